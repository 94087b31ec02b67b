-- migrate:up
-- A coupon policy (domain.policy). `remaining` is the stock of copies left to issue: an issue takes
-- one with `UPDATE ... SET remaining = remaining - 1 WHERE id = $1 AND remaining > 0`, so the checks
-- below make "never more copies than total_quantity" a property of the table, whatever the caller.
-- target_product_id is the catalog's product id; it is not checked here (no service reads another's
-- schema), a coupon for a product that does not exist simply never applies to an order.
CREATE TABLE coupons (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    discount_type        text NOT NULL CHECK (discount_type IN ('RATE', 'FIXED')),
    discount_value       bigint NOT NULL,
    max_discount_amount  bigint,
    target_product_id    bigint CHECK (target_product_id >= 1),
    total_quantity       int NOT NULL CHECK (total_quantity BETWEEN 1 AND 10000000),
    remaining            int NOT NULL,
    valid_days           int NOT NULL CHECK (valid_days BETWEEN 1 AND 3650),
    issue_start_at       timestamptz,
    issue_end_at         timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (remaining >= 0 AND remaining <= total_quantity),
    CHECK (
        (discount_type = 'RATE' AND discount_value BETWEEN 1 AND 100
            AND (max_discount_amount IS NULL OR max_discount_amount >= 1))
        OR (discount_type = 'FIXED' AND discount_value >= 1 AND max_discount_amount IS NULL)
    ),
    CHECK (issue_start_at IS NULL OR issue_end_at IS NULL OR issue_start_at < issue_end_at)
);

-- One issued copy (domain.user_coupon), with the policy's terms as they were at issue time. The
-- stored status is ISSUED or USED: EXPIRED is computed when read (expires_at <= now), so no job has
-- to flip it. At most one copy per user per coupon, whatever the path that issues it.
CREATE TABLE user_coupons (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id              bigint NOT NULL,
    coupon_id            bigint NOT NULL REFERENCES coupons (id),
    name                 text NOT NULL,
    discount_type        text NOT NULL CHECK (discount_type IN ('RATE', 'FIXED')),
    discount_value       bigint NOT NULL,
    max_discount_amount  bigint,
    target_product_id    bigint,
    status               text NOT NULL DEFAULT 'ISSUED' CHECK (status IN ('ISSUED', 'USED')),
    issued_at            timestamptz NOT NULL,
    expires_at           timestamptz NOT NULL,
    used_at              timestamptz,
    used_by_payment_id   bigint,
    order_id             bigint,
    CHECK (expires_at > issued_at),
    -- A used copy says when, by which payment and for which order; an unused one says nothing.
    CHECK (
        (status = 'USED') = (used_at IS NOT NULL)
        AND (status = 'USED') = (used_by_payment_id IS NOT NULL)
        AND (status = 'USED') = (order_id IS NOT NULL)
    )
);
CREATE UNIQUE INDEX user_coupons_one_per_user ON user_coupons (user_id, coupon_id);
-- "My coupons", newest first (keyset paging on issued_at, id).
CREATE INDEX user_coupons_by_user ON user_coupons (user_id, issued_at DESC, id DESC);

-- The payment saga's coupon step, one row per payment id (domain.payment_steps): what makes use and
-- restore idempotent, and the VOIDED tombstone of a restore that came before its use.
CREATE TABLE coupon_payment_steps (
    payment_id      bigint PRIMARY KEY,
    user_coupon_id  bigint NOT NULL REFERENCES user_coupons (id),
    status          text NOT NULL CHECK (status IN ('USED', 'RESTORED', 'VOIDED')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupon_payment_steps_by_coupon ON coupon_payment_steps (user_coupon_id);

-- migrate:down
DROP TABLE coupon_payment_steps;
DROP TABLE user_coupons;
DROP TABLE coupons;
