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

CREATE TABLE idempotency_keys (
    user_id      bigint NOT NULL,
    key          text NOT NULL,
    fingerprint  bytea NOT NULL,
    status_code  int,
    body         jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

-- Deliveries to the data platform that it acknowledged (a redelivered event is not sent again).
CREATE TABLE inbox (
    consumer    text NOT NULL,
    event_id    uuid NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- The outbox (a copy of commerce_kit/sql/outbox.sql as it was when this migration was written).
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
DROP TABLE inbox;
DROP TABLE idempotency_keys;
DROP TABLE payment_transitions;
DROP TABLE payments;
