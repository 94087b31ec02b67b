-- migrate:up
-- The ranking service's backfill reads every paid or refunded order in id order.
CREATE INDEX orders_paid ON orders (id) WHERE status IN ('PAID', 'REFUNDED');

-- migrate:down
DROP INDEX orders_paid;
