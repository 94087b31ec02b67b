-- migrate:up
-- The outbox tables of one service, in its own schema (see commerce_kit.outbox).
-- A schema whose own migrations made these tables (this very shape) keeps them as they are, rows
-- and leases and all: every statement here leaves what exists alone (IF NOT EXISTS, ON CONFLICT DO
-- NOTHING, OR REPLACE with the same text).
CREATE TABLE IF NOT EXISTS outbox (
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
CREATE INDEX IF NOT EXISTS outbox_by_bucket ON outbox (bucket, id);

CREATE TABLE IF NOT EXISTS outbox_dead (LIKE outbox, died_at timestamptz NOT NULL DEFAULT now());

-- One row per bucket (commerce_kit.outbox.BUCKETS).
CREATE TABLE IF NOT EXISTS outbox_leases (
    bucket       smallint PRIMARY KEY,
    owner        text,
    lease_until  timestamptz
);
INSERT INTO outbox_leases (bucket) SELECT generate_series(0, 15) ON CONFLICT (bucket) DO NOTHING;

-- Relays say they are alive here, so that each can take its fair share of the buckets.
CREATE TABLE IF NOT EXISTS outbox_relays (
    owner        text PRIMARY KEY,
    alive_until  timestamptz NOT NULL
);

CREATE OR REPLACE FUNCTION outbox_wake_relay() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
    RETURN NULL;
END $$;
CREATE OR REPLACE TRIGGER outbox_wake_relay AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_wake_relay();

-- migrate:down
DROP TRIGGER outbox_wake_relay ON outbox;
DROP FUNCTION outbox_wake_relay();
DROP TABLE outbox_relays;
DROP TABLE outbox_leases;
DROP TABLE outbox_dead;
DROP TABLE outbox;
