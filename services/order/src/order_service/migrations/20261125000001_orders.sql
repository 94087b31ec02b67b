-- migrate:up
-- An order and its price snapshot: what the catalog and the coupon service said when it was placed.
CREATE TABLE orders (
    id                          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id                     bigint NOT NULL,
    status                      text NOT NULL
        CHECK (status IN ('PENDING_PAYMENT', 'PAID', 'CANCELLED', 'EXPIRED', 'REFUNDED')),
    total_amount                bigint NOT NULL CHECK (total_amount >= 0),
    discount_amount             bigint NOT NULL CHECK (discount_amount BETWEEN 0 AND total_amount),
    pay_amount                  bigint NOT NULL CHECK (pay_amount = total_amount - discount_amount),
    -- The user coupon used, and a snapshot of its discount terms.
    user_coupon_id              bigint,
    coupon_id                   bigint,
    coupon_discount_type        text CHECK (coupon_discount_type IN ('RATE', 'FIXED')),
    coupon_discount_value       bigint,
    coupon_max_discount_amount  bigint,
    coupon_target_product_id    bigint,
    -- Set by the payment saga: the payment that paid (and maybe refunded) the order.
    payment_id                  bigint,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    paid_at                     timestamptz,
    cancelled_at                timestamptz,
    expired_at                  timestamptz,
    refunded_at                 timestamptz,
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    CHECK ((user_coupon_id IS NULL) = (coupon_discount_type IS NULL)),
    CHECK ((user_coupon_id IS NULL) = (coupon_id IS NULL)),
    CHECK ((status IN ('PAID', 'REFUNDED')) = (payment_id IS NOT NULL))
);
CREATE INDEX orders_by_user ON orders (user_id, id DESC);
-- What the expiry job reads: only unpaid orders, oldest first.
CREATE INDEX orders_unpaid_by_age ON orders (created_at) WHERE status = 'PENDING_PAYMENT';
-- A payment pays one order.
CREATE UNIQUE INDEX orders_one_per_payment ON orders (payment_id) WHERE payment_id IS NOT NULL;

CREATE TABLE order_lines (
    order_id      bigint NOT NULL REFERENCES orders (id),
    line_no       smallint NOT NULL CHECK (line_no >= 1),
    product_id    bigint NOT NULL,
    option_id     bigint NOT NULL,
    product_name  text NOT NULL,
    option_name   text NOT NULL,
    unit_price    bigint NOT NULL CHECK (unit_price >= 0),
    quantity      int NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    line_amount   bigint NOT NULL CHECK (line_amount = unit_price * quantity),
    PRIMARY KEY (order_id, line_no),
    UNIQUE (order_id, option_id)
);

-- The outbox tables are the kit's: they come from its own migrations (commerce_kit/migrations/outbox,
-- `KitTables.OUTBOX` in this package's MIGRATIONS), applied before this schema's. An applied
-- migration is never run again, so leaving them out of this text matters only to a new database,
-- where the kit has made them already; a database that applied this migration when it created them
-- keeps them, and the kit's first outbox migration leaves them (and their rows) as they are.

-- migrate:down
DROP TABLE order_lines;
DROP TABLE orders;
