-- migrate:up
-- A copy's coupon is no longer checked by a foreign key. Every copy is inserted by a statement that
-- takes from its coupon's row first, under that row's lock (adapters: issue_copies, take_one), and
-- coupons are never deleted: the key guarded against nothing these statements allow. Its check ran
-- once per copy, against the row the batch had just updated (and which every batch updates):
-- PostgreSQL spent 12.3 ms on a batch's 800 copies with the key and 4.4 ms without it
-- (pg_stat_statements during the bench's 202 line, docs/performance.md, 2026-12-02 evening; on a
-- quiet table the check cost 2.9 µs a copy, 46 % of the insert).
ALTER TABLE user_coupons DROP CONSTRAINT user_coupons_coupon_id_fkey;

-- migrate:down
ALTER TABLE user_coupons ADD CONSTRAINT user_coupons_coupon_id_fkey
    FOREIGN KEY (coupon_id) REFERENCES coupons (id);
