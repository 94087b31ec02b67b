-- migrate:up
CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE wallets (
    user_id     bigint PRIMARY KEY REFERENCES users (id),
    balance     bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The history the user reads: CHARGE rows are written with the charge; PAYMENT and REFUND rows by
-- the consumers of the payment topics, once per payment (the unique index below).
CREATE TABLE wallet_transactions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id),
    type           text NOT NULL CHECK (type IN ('CHARGE', 'PAYMENT', 'REFUND')),
    amount         bigint NOT NULL CHECK (amount >= 0),
    balance_after  bigint NOT NULL CHECK (balance_after >= 0),
    order_id       bigint,
    payment_id     bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((type = 'CHARGE') = (payment_id IS NULL))
);
CREATE INDEX wallet_transactions_by_user ON wallet_transactions (user_id, id DESC);
CREATE UNIQUE INDEX wallet_transactions_once_per_payment ON wallet_transactions (payment_id, type)
    WHERE payment_id IS NOT NULL;

-- The saga's "take the balance" step, one row per payment id: the idempotency record of the debit
-- and of its reversal (see domain.wallet.DebitStatus).
CREATE TABLE payment_debits (
    payment_id      bigint PRIMARY KEY,
    user_id         bigint NOT NULL,
    amount          bigint NOT NULL CHECK (amount >= 0),
    status          text NOT NULL CHECK (status IN ('TAKEN', 'REFUSED', 'GIVEN_BACK', 'VOIDED')),
    order_id        bigint,
    balance_after   bigint,
    returned_after  bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

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

-- migrate:down
DROP TABLE idempotency_keys;
DROP TABLE payment_debits;
DROP TABLE wallet_transactions;
DROP TABLE wallets;
DROP TABLE users;
