-- migrate:up
-- One row per payment saga. Its state is persisted before each step (`attempted`) and after each
-- outcome (`done`, `status`), so that a crash at any point leaves enough to resume or undo it.
CREATE TABLE payments (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id         bigint NOT NULL,
    user_id          bigint NOT NULL,
    amount           bigint NOT NULL CHECK (amount >= 0),
    user_coupon_id   bigint,
    items            jsonb NOT NULL,
    status           text NOT NULL
        CHECK (status IN ('PENDING', 'COMPENSATING', 'COMPLETED', 'FAILED', 'REFUNDING', 'REFUNDED')),
    done             text[] NOT NULL DEFAULT '{}',
    attempted        text,
    failure_code     text,
    failure_detail   text,
    idem_user_id     bigint,
    idem_key         text,
    lease_owner      text,
    lease_until      timestamptz,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    retries          int NOT NULL DEFAULT 0,
    balance_after    bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    paid_at          timestamptz,
    refunded_at      timestamptz
);
-- An order is paid at most once: one payment per order that has not failed.
CREATE UNIQUE INDEX payments_one_live_per_order ON payments (order_id) WHERE status <> 'FAILED';
-- The recovery worker's queue: unfinished sagas, soonest first.
CREATE INDEX payments_unfinished ON payments (next_attempt_at)
    WHERE status IN ('PENDING', 'COMPENSATING', 'REFUNDING');

-- Every transition, for the record (and for whoever must explain a payment later).
CREATE TABLE payment_transitions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id  bigint NOT NULL REFERENCES payments (id),
    status      text NOT NULL,
    step        text,
    event       text NOT NULL,
    detail      text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_transitions_by_payment ON payment_transitions (payment_id, id);

-- The kit's tables this service uses (idempotency_keys, inbox, the outbox's) come from the kit's
-- own migrations (commerce_kit/migrations, `kit` in this package's MIGRATIONS), applied before this
-- schema's. An applied migration is never run again, so leaving them out of this text matters only
-- to a new database, where the kit has made them already; a database that applied this migration
-- when it created them keeps them, and the kit's first migrations leave them (and their rows) as
-- they are.

-- migrate:down
DROP TABLE payment_transitions;
DROP TABLE payments;
