-- migrate:up
-- A history row's time is the moment its balance changed, and the history reads newest first by
-- that moment (ties by id). The moments are taken under the wallet's lock: the wallet keeps the
-- last one (updated_at), and a payment's debit keeps the moment it took the money and the moment it
-- gave it back, which the PAYMENT and REFUND rows take when the payment's events arrive. A debit
-- recorded before this migration has neither: its rows take the event's time, as they did.
ALTER TABLE payment_debits ADD COLUMN taken_at timestamptz, ADD COLUMN returned_at timestamptz;
CREATE INDEX wallet_transactions_by_user_time ON wallet_transactions (user_id, created_at DESC, id DESC);
DROP INDEX wallet_transactions_by_user;

-- migrate:down
CREATE INDEX wallet_transactions_by_user ON wallet_transactions (user_id, id DESC);
DROP INDEX wallet_transactions_by_user_time;
ALTER TABLE payment_debits DROP COLUMN taken_at, DROP COLUMN returned_at;
