-- pgbench: the SQL the services run for one payment (POST /payments with an Idempotency-Key and
-- one order line), statement for statement and transaction for transaction as they run it, on a
-- scratch database migrated with each service's own migrations (bench/pgbench.py). Read from:
--   payment  service_layer/payments.py, service_layer/driver.py, adapters/repository.py,
--            commerce_kit/idempotency.py, commerce_kit/outbox.py
--   order    service_layer/orders.py (internal GET, paid), adapters/repository.py
--   catalog  service_layer/stock_takes.py, adapters/repository.py
--   user     service_layer/wallets.py (debit_for_payment), adapters/repository.py
--   coupon   service_layer/user_coupons.py (use), adapters/repository.py
-- As of commit 8886045 (the key claimed with the saga's start; the final save clears the lease):
-- each saga step is two statements of the payment service (the attempt and
-- the outcome, each an UPDATE ... RETURNING * with its transition logged in the same statement).
-- Left out: what happens after the answer (the outbox relays' SELECT/DELETE, the consumers' history,
-- ranking and inbox rows).
-- Variables (-D): users, options (1 = everyone buys the same option), coupon_pct (share of
-- payments that use a coupon).
\set user random(1, :users)
\set option random(1, :options)
\set roll random(1, 100)
SELECT nextval('benchpg.orders') AS order_id \gset
-- payment: look the Idempotency-Key up (it is claimed with the saga's start, below)
SELECT fingerprint, status_code, body FROM payments.idempotency_keys WHERE user_id = :user AND key = 'pgbench-' || :order_id;
-- order: GET /internal/v1/orders/{id}
SELECT id, user_id, status, total_amount, discount_amount, pay_amount, user_coupon_id, coupon_id, coupon_discount_type, coupon_discount_value, coupon_max_discount_amount, coupon_target_product_id, payment_id, created_at, paid_at, refunded_at FROM orders.orders WHERE id = :order_id;
SELECT order_id, product_id, option_id, product_name, option_name, unit_price, quantity FROM orders.order_lines WHERE order_id = ANY(ARRAY[:order_id]::bigint[]) ORDER BY order_id, line_no;
-- payment: start the saga, claiming the key in the same transaction
BEGIN;
INSERT INTO payments.idempotency_keys (user_id, key, fingerprint) VALUES (:user, 'pgbench-' || :order_id, '\x00') ON CONFLICT DO NOTHING RETURNING true;
INSERT INTO payments.payments (order_id, user_id, amount, user_coupon_id, items, status, idem_user_id, idem_key, lease_owner, lease_until) VALUES (:order_id, :user, 9000, NULL, '[{"product_id": 1, "option_id": 1, "quantity": 1, "unit_price": 10000, "product_name": "Bench product"}]', 'PENDING', :user, 'pgbench-' || :order_id, 'pgbench', now() + make_interval(secs => 30)) ON CONFLICT (order_id) WHERE status <> 'FAILED' DO NOTHING RETURNING id AS payment_id \gset
INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) VALUES (:payment_id, 'PENDING', NULL, 'STARTED', NULL);
COMMIT;
SELECT * FROM payments.payments WHERE id = :payment_id;
-- step TAKE_STOCK: attempt, the catalog's transaction, record
WITH saved AS (UPDATE payments.payments SET status = 'PENDING', done = '{}', attempted = 'TAKE_STOCK', failure_code = NULL, failure_detail = NULL, updated_at = now(), lease_until = now() + make_interval(secs => 30) WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT id, status, 'TAKE_STOCK', 'ATTEMPT', NULL FROM saved) SELECT * FROM saved;
BEGIN;
INSERT INTO catalog.stock_takes (payment_id, status) VALUES (:payment_id, 'TAKEN') ON CONFLICT (payment_id) DO NOTHING RETURNING true;
SELECT id, product_id, stock FROM catalog.options WHERE id = ANY(ARRAY[:option]::bigint[]) ORDER BY id FOR UPDATE;
UPDATE catalog.stock_takes SET status = 'TAKEN', short_option_ids = '{}' WHERE payment_id = :payment_id;
INSERT INTO catalog.stock_take_lines (payment_id, option_id, product_id, quantity, stock_after) SELECT :payment_id, * FROM unnest(ARRAY[:option]::bigint[], ARRAY[1]::bigint[], ARRAY[1]::bigint[], ARRAY[1000000]::bigint[]);
UPDATE catalog.options o SET stock = o.stock - 1, updated_at = now() FROM unnest(ARRAY[:option]::bigint[]) AS c (id) WHERE o.id = c.id;
INSERT INTO catalog.outbox (topic, key, bucket, event_id, event_type, payload, headers) VALUES ('stock-events', :option, 1, gen_random_uuid(), 'StockTaken', '{"event_id": "00000000-0000-0000-0000-000000000000", "occurred_at": "2026-01-01T00:00:00Z", "schema_version": 1, "product_id": 1, "option_id": 1, "stock_after": 999999, "payment_id": 1, "quantity": 1}', '{}');
COMMIT;
WITH saved AS (UPDATE payments.payments SET status = 'PENDING', done = '{TAKE_STOCK}', attempted = NULL, failure_code = NULL, failure_detail = NULL, updated_at = now(), lease_until = now() + make_interval(secs => 30) WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT id, status, 'TAKE_STOCK', 'DONE', NULL FROM saved) SELECT * FROM saved;
-- step TAKE_BALANCE
WITH saved AS (UPDATE payments.payments SET status = 'PENDING', done = '{TAKE_STOCK}', attempted = 'TAKE_BALANCE', failure_code = NULL, failure_detail = NULL, updated_at = now(), lease_until = now() + make_interval(secs => 30) WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT id, status, 'TAKE_BALANCE', 'ATTEMPT', NULL FROM saved) SELECT * FROM saved;
BEGIN;
SELECT balance FROM users.wallets WHERE user_id = :user FOR UPDATE;
INSERT INTO users.payment_debits (payment_id, user_id, amount, order_id, status, balance_after) VALUES (:payment_id, :user, 9000, :order_id, 'TAKEN', 1) ON CONFLICT (payment_id) DO NOTHING RETURNING true;
UPDATE users.wallets SET balance = balance - 9000, updated_at = now() WHERE user_id = :user;
COMMIT;
WITH saved AS (UPDATE payments.payments SET status = 'PENDING', done = '{TAKE_STOCK,TAKE_BALANCE}', attempted = NULL, failure_code = NULL, failure_detail = NULL, balance_after = 1, updated_at = now(), lease_until = now() + make_interval(secs => 30) WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT id, status, 'TAKE_BALANCE', 'DONE', NULL FROM saved) SELECT * FROM saved;
-- step USE_COUPON (only payments with a coupon)
\if :roll <= :coupon_pct
SELECT nextval('benchpg.user_coupons') AS uc \gset
WITH saved AS (UPDATE payments.payments SET status = 'PENDING', done = '{TAKE_STOCK,TAKE_BALANCE}', attempted = 'USE_COUPON', failure_code = NULL, failure_detail = NULL, updated_at = now(), lease_until = now() + make_interval(secs => 30) WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT id, status, 'USE_COUPON', 'ATTEMPT', NULL FROM saved) SELECT * FROM saved;
BEGIN;
SELECT id, user_id, coupon_id, name, discount_type, discount_value, max_discount_amount, target_product_id, status, issued_at, expires_at, used_at, used_by_payment_id, order_id FROM coupons.user_coupons WHERE id = :uc FOR UPDATE;
SELECT payment_id, user_coupon_id, status FROM coupons.coupon_payment_steps WHERE payment_id = :payment_id;
INSERT INTO coupons.coupon_payment_steps (payment_id, user_coupon_id, status) VALUES (:payment_id, :uc, 'USED') ON CONFLICT (payment_id) DO NOTHING RETURNING true;
UPDATE coupons.user_coupons SET status = 'USED', used_at = now(), used_by_payment_id = :payment_id, order_id = :order_id WHERE id = :uc;
COMMIT;
WITH saved AS (UPDATE payments.payments SET status = 'PENDING', done = '{TAKE_STOCK,TAKE_BALANCE,USE_COUPON}', attempted = NULL, failure_code = NULL, failure_detail = NULL, updated_at = now(), lease_until = now() + make_interval(secs => 30) WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT id, status, 'USE_COUPON', 'DONE', NULL FROM saved) SELECT * FROM saved;
\endif
-- step MARK_ORDER_PAID, then the final record: the PaymentCompleted outbox row and the stored answer
WITH saved AS (UPDATE payments.payments SET status = 'PENDING', done = '{TAKE_STOCK,TAKE_BALANCE}', attempted = 'MARK_ORDER_PAID', failure_code = NULL, failure_detail = NULL, paid_at = now(), updated_at = now(), lease_until = now() + make_interval(secs => 30) WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT id, status, 'MARK_ORDER_PAID', 'ATTEMPT', NULL FROM saved) SELECT * FROM saved;
BEGIN;
SELECT id, user_id, status, total_amount, discount_amount, pay_amount, user_coupon_id, coupon_id, coupon_discount_type, coupon_discount_value, coupon_max_discount_amount, coupon_target_product_id, payment_id, created_at, paid_at, refunded_at FROM orders.orders WHERE id = :order_id FOR UPDATE;
SELECT order_id, product_id, option_id, product_name, option_name, unit_price, quantity FROM orders.order_lines WHERE order_id = ANY(ARRAY[:order_id]::bigint[]) ORDER BY order_id, line_no;
SAVEPOINT paid;
UPDATE orders.orders SET status = 'PAID', payment_id = :payment_id, paid_at = coalesce(now(), now()), updated_at = now() WHERE id = :order_id AND status = 'PENDING_PAYMENT' RETURNING paid_at;
RELEASE SAVEPOINT paid;
INSERT INTO orders.outbox (topic, key, bucket, event_id, event_type, payload, headers) VALUES ('order-events', :order_id, 2, gen_random_uuid(), 'OrderPaid', '{"event_id": "00000000-0000-0000-0000-000000000000", "occurred_at": "2026-01-01T00:00:00Z", "schema_version": 1, "order_id": 1, "user_id": 1, "payment_id": 1, "paid_at": "2026-01-01T00:00:00Z"}', '{}');
COMMIT;
BEGIN;
WITH saved AS (UPDATE payments.payments SET status = 'COMPLETED', done = '{TAKE_STOCK,TAKE_BALANCE,MARK_ORDER_PAID}', attempted = NULL, failure_code = NULL, failure_detail = NULL, updated_at = now(), lease_owner = NULL, lease_until = NULL WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT id, status, 'MARK_ORDER_PAID', 'DONE', NULL FROM saved) SELECT * FROM saved;
INSERT INTO payments.outbox (topic, key, bucket, event_id, event_type, payload, headers) VALUES ('payment-completed', :order_id, 3, gen_random_uuid(), 'PaymentCompleted', '{"event_id": "00000000-0000-0000-0000-000000000000", "occurred_at": "2026-01-01T00:00:00Z", "schema_version": 1, "payment_id": 1, "order_id": 1, "user_id": 1, "amount": 9000, "items": [{"product_id": 1, "option_id": 1, "quantity": 1, "unit_price": 10000, "product_name": "Bench product"}], "user_coupon_id": null, "balance_after": 1, "paid_at": "2026-01-01T00:00:00Z"}', '{}');
UPDATE payments.idempotency_keys SET status_code = 201, body = '{"paymentId": 1, "orderId": 1, "userId": 1, "amount": 9000, "status": "COMPLETED"}' WHERE user_id = :user AND key = 'pgbench-' || :order_id;
COMMIT;
