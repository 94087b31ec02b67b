-- migrate:up
-- A copy's coupon is no longer checked by a foreign key. Every copy is inserted by a statement that
-- takes from its coupon's row first, under that row's lock (adapters: issue_copies, take_one), and
-- coupons are never deleted: the key guarded against nothing these statements allow. Its check ran
-- once per copy, against the row the batch had just updated (and which every batch updates), a
-- large share of the copies' insert (docs/performance-history.md has the measurements).
ALTER TABLE user_coupons DROP CONSTRAINT user_coupons_coupon_id_fkey;

-- migrate:down
ALTER TABLE user_coupons ADD CONSTRAINT user_coupons_coupon_id_fkey
    FOREIGN KEY (coupon_id) REFERENCES coupons (id);
