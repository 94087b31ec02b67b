-- migrate:up
-- The answers kept for `Idempotency-Key` requests, per user (see commerce_kit.idempotency).
-- A schema whose own migrations made this table (this very shape) keeps it as it is, rows and all.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id      bigint NOT NULL,
    key          text NOT NULL,
    fingerprint  bytea NOT NULL,
    status_code  int,
    body         jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
-- What the clean-up of old keys reads (idempotency.forget_older_than).
CREATE INDEX IF NOT EXISTS idempotency_keys_by_age ON idempotency_keys (created_at);

-- migrate:down
DROP TABLE idempotency_keys;
