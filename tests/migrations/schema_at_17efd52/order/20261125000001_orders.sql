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

-- The outbox tables (a copy of commerce_kit/sql/outbox.sql: an applied migration never changes).
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic       text NOT NULL,
    key         text NOT NULL,
    bucket      smallint NOT NULL,
    event_id    uuid NOT NULL,
    event_type  text NOT NULL,
    payload     jsonb NOT NULL,
    headers     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    int NOT NULL DEFAULT 0,
    last_error  text
);
CREATE INDEX outbox_by_bucket ON outbox (bucket, id);

CREATE TABLE outbox_dead (LIKE outbox, died_at timestamptz NOT NULL DEFAULT now());

CREATE TABLE outbox_leases (
    bucket       smallint PRIMARY KEY,
    owner        text,
    lease_until  timestamptz
);
INSERT INTO outbox_leases (bucket) SELECT generate_series(0, 15);

-- Relays say they are alive here, so that each can take its fair share of the buckets.
CREATE TABLE outbox_relays (
    owner        text PRIMARY KEY,
    alive_until  timestamptz NOT NULL
);

CREATE FUNCTION outbox_wake_relay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_wake_relay AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_wake_relay();

-- migrate:down
DROP TRIGGER outbox_wake_relay ON outbox;
DROP FUNCTION outbox_wake_relay();
DROP TABLE outbox_relays;
DROP TABLE outbox_leases;
DROP TABLE outbox_dead;
DROP TABLE outbox;
DROP TABLE order_lines;
DROP TABLE orders;
