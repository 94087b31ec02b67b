-- migrate:up
-- The reconciler's list of coupons settled lately comes from the coupons themselves: each settled
-- batch stamps its coupon as it locks the row. The index on issue_requests (settled_at, coupon_id)
-- it replaces cost every settled reservation an index entry (some 0.9 µs of PostgreSQL's time
-- each, a third of the batch insert's, measured with 50,000 rows), for a query run every 10 s.
ALTER TABLE coupons ADD COLUMN last_settled_at timestamptz;
UPDATE coupons c SET last_settled_at = r.last
FROM (SELECT coupon_id, max(settled_at) AS last FROM issue_requests GROUP BY coupon_id) r
WHERE r.coupon_id = c.id;
DROP INDEX issue_requests_recent;

-- migrate:down
CREATE INDEX issue_requests_recent ON issue_requests (settled_at, coupon_id);
ALTER TABLE coupons DROP COLUMN last_settled_at;
