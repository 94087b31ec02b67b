-- migrate:up
-- A copy of commerce_kit/sql/outbox.sql (an applied migration never changes).
-- The outbox tables of one service, in its own schema (see commerce_kit.outbox). A service's
-- migration carries a copy of this text: an applied migration never changes.
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
