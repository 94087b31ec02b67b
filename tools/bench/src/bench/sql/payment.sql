-- pgbench: the SQL the services run for one order and its payment (the scenario's flow: POST /orders
-- with one line, then POST /payments with an Idempotency-Key), statement for statement and
-- transaction for transaction as they run it, on a scratch database migrated with each service's
-- own migrations (bench/pgbench.py). Read from:
--   order    service_layer/orders.py (place, internal GET, paid), adapters/repository.py
--   payment  service_layer/payments.py, service_layer/driver.py, adapters/repository.py,
--            commerce_kit/idempotency.py, commerce_kit/outbox.py
--   catalog  service_layer/stock_takes.py (lookup, take), adapters/repository.py
--   user     service_layer/wallets.py (debit_for_payment), adapters/repository.py
--   coupon   service_layer/user_coupons.py (the buyer's coupon, use), adapters/repository.py
-- As of this commit: the order is placed with its lines in one statement and its OrderPlaced in the
-- outbox; the saga starts attempting its first step (one INSERT with both transitions logged);
-- between two steps one statement saves the outcome of the one and the attempt of the next (an
-- UPDATE ... RETURNING * logging both transitions); the key is claimed with the start; the final
-- save clears the lease; the order is read with its lines in one statement, and marked paid
-- without a savepoint (its UPDATE checks that the payment paid no other order).
-- Left out: what happens after the answers (the outbox relays' SELECT/DELETE, the consumers'
-- history, order, ranking and inbox rows).
-- Variables (-D): users, options (1 = everyone buys the same option), coupon_pct (share of
-- orders that use a coupon: the buyer's coupon is read when the order is placed, used when paid).
\set user random(1, :users)
\set option random(1, :options)
\set roll random(1, 100)
-- catalog: POST /internal/v1/options/lookup (the order service prices the line)
SELECT o.id AS option_id, o.product_id, p.name AS product_name, o.name AS option_name, o.price, o.stock FROM catalog.options o JOIN catalog.products p ON p.id = o.product_id WHERE o.id = ANY(ARRAY[:option]::bigint[]) ORDER BY o.id;
\if :roll <= :coupon_pct
-- coupon: GET /internal/v1/user-coupons/{id} (the buyer's coupon, checked when the order is placed)
SELECT nextval('benchpg.user_coupons') AS uc \gset
SELECT id, user_id, coupon_id, name, discount_type, discount_value, max_discount_amount, target_product_id, status, issued_at, expires_at, used_at, used_by_payment_id, order_id FROM coupons.user_coupons WHERE id = :uc;
\endif
-- order: POST /orders, the order and its line in one statement, OrderPlaced in the same transaction
BEGIN;
WITH placed AS (INSERT INTO orders.orders (user_id, status, total_amount, discount_amount, pay_amount, user_coupon_id, coupon_id, coupon_discount_type, coupon_discount_value, coupon_max_discount_amount, coupon_target_product_id) VALUES (:user, 'PENDING_PAYMENT', 10000, 1000, 9000, NULL, NULL, NULL, NULL, NULL, NULL) RETURNING id, user_id, status, total_amount, discount_amount, pay_amount, user_coupon_id, coupon_id, coupon_discount_type, coupon_discount_value, coupon_max_discount_amount, coupon_target_product_id, payment_id, created_at, paid_at, refunded_at), lined AS (INSERT INTO orders.order_lines (order_id, line_no, product_id, option_id, product_name, option_name, unit_price, quantity, line_amount) SELECT placed.id, l.n, l.product_id, l.option_id, l.product_name, l.option_name, l.unit_price, l.quantity, l.line_amount FROM placed, unnest(ARRAY[:option]::bigint[], ARRAY[:option]::bigint[], ARRAY['pgbench']::text[], ARRAY['only']::text[], ARRAY[10000]::bigint[], ARRAY[1]::int[], ARRAY[10000]::bigint[]) WITH ORDINALITY AS l (product_id, option_id, product_name, option_name, unit_price, quantity, line_amount, n)) SELECT id AS order_id FROM placed \gset
INSERT INTO orders.outbox (topic, key, bucket, event_id, event_type, payload, headers) VALUES ('order-events', :order_id, 2, gen_random_uuid(), 'OrderPlaced', '{"event_id": "00000000-0000-0000-0000-000000000000", "occurred_at": "2026-01-01T00:00:00Z", "schema_version": 1, "order_id": 1, "user_id": 1, "lines": [{"product_id": 1, "option_id": 1, "quantity": 1, "unit_price": 10000}], "total_amount": 10000, "discount_amount": 1000, "pay_amount": 9000, "user_coupon_id": null, "placed_at": "2026-01-01T00:00:00Z"}', '{}');
COMMIT;
-- payment: look the Idempotency-Key up (it is claimed with the saga's start, below)
SELECT fingerprint, status_code, body FROM payments.idempotency_keys WHERE user_id = :user AND key = 'pgbench-' || :order_id;
-- order: GET /internal/v1/orders/{id}
SELECT id, user_id, status, total_amount, discount_amount, pay_amount, user_coupon_id, coupon_id, coupon_discount_type, coupon_discount_value, coupon_max_discount_amount, coupon_target_product_id, payment_id, created_at, paid_at, refunded_at, (SELECT jsonb_agg(jsonb_build_array(product_id, option_id, product_name, option_name, unit_price, quantity) ORDER BY line_no) FROM orders.order_lines WHERE order_id = orders.id) AS lines FROM orders.orders WHERE id = :order_id;
-- payment: start the saga attempting TAKE_STOCK, claiming the key in the same transaction
BEGIN;
INSERT INTO payments.idempotency_keys (user_id, key, fingerprint) VALUES (:user, 'pgbench-' || :order_id, '\x00') ON CONFLICT DO NOTHING RETURNING true;
WITH started AS (INSERT INTO payments.payments (order_id, user_id, amount, user_coupon_id, items, status, attempted, idem_user_id, idem_key, lease_owner, lease_until) VALUES (:order_id, :user, 9000, NULL, '[{"product_id": 1, "option_id": 1, "quantity": 1, "unit_price": 10000, "product_name": "Bench product"}]', 'PENDING', 'TAKE_STOCK', :user, 'pgbench-' || :order_id, 'pgbench', now() + make_interval(secs => 30)) ON CONFLICT (order_id) WHERE status <> 'FAILED' DO NOTHING RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event) SELECT started.id, 'PENDING', t.step, t.event FROM started, (VALUES (1, NULL, 'STARTED'), (2, 'TAKE_STOCK', 'ATTEMPT')) AS t(n, step, event) ORDER BY t.n) SELECT id AS payment_id FROM started \gset
COMMIT;
-- step TAKE_STOCK: the catalog's transaction, then its outcome saved with TAKE_BALANCE's attempt
BEGIN;
INSERT INTO catalog.stock_takes (payment_id, status) VALUES (:payment_id, 'TAKEN') ON CONFLICT (payment_id) DO NOTHING RETURNING true;
SELECT id, product_id, stock FROM catalog.options WHERE id = ANY(ARRAY[:option]::bigint[]) ORDER BY id FOR UPDATE;
UPDATE catalog.stock_takes SET status = 'TAKEN', short_option_ids = '{}' WHERE payment_id = :payment_id;
INSERT INTO catalog.stock_take_lines (payment_id, option_id, product_id, quantity, stock_after) SELECT :payment_id, * FROM unnest(ARRAY[:option]::bigint[], ARRAY[1]::bigint[], ARRAY[1]::bigint[], ARRAY[1000000]::bigint[]);
UPDATE catalog.options o SET stock = o.stock - 1, updated_at = now() FROM unnest(ARRAY[:option]::bigint[]) AS c (id) WHERE o.id = c.id;
INSERT INTO catalog.outbox (topic, key, bucket, event_id, event_type, payload, headers) VALUES ('stock-events', :option, 1, gen_random_uuid(), 'StockTaken', '{"event_id": "00000000-0000-0000-0000-000000000000", "occurred_at": "2026-01-01T00:00:00Z", "schema_version": 1, "product_id": 1, "option_id": 1, "stock_after": 999999, "payment_id": 1, "quantity": 1}', '{}');
COMMIT;
WITH saved AS (UPDATE payments.payments SET status = 'PENDING', done = '{TAKE_STOCK}', attempted = 'TAKE_BALANCE', failure_code = NULL, failure_detail = NULL, updated_at = now(), lease_until = now() + make_interval(secs => 30) WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT saved.id, saved.status, t.step, t.event, t.detail FROM saved, unnest(ARRAY['TAKE_STOCK', 'TAKE_BALANCE'], ARRAY['DONE', 'ATTEMPT'], ARRAY[NULL, NULL]::text[]) WITH ORDINALITY AS t(step, event, detail, n) ORDER BY t.n) SELECT * FROM saved;
-- step TAKE_BALANCE: the user service's transaction, then its outcome with the next attempt
BEGIN;
SELECT balance FROM users.wallets WHERE user_id = :user FOR UPDATE;
UPDATE users.wallets SET balance = balance - 9000, updated_at = greatest(clock_timestamp(), updated_at + interval '1 microsecond') WHERE user_id = :user RETURNING updated_at;
INSERT INTO users.payment_debits (payment_id, user_id, amount, order_id, status, balance_after, taken_at) VALUES (:payment_id, :user, 9000, :order_id, 'TAKEN', 1, now()) ON CONFLICT (payment_id) DO NOTHING RETURNING true;
COMMIT;
\if :roll <= :coupon_pct
WITH saved AS (UPDATE payments.payments SET status = 'PENDING', done = '{TAKE_STOCK,TAKE_BALANCE}', attempted = 'USE_COUPON', failure_code = NULL, failure_detail = NULL, balance_after = 1, updated_at = now(), lease_until = now() + make_interval(secs => 30) WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT saved.id, saved.status, t.step, t.event, t.detail FROM saved, unnest(ARRAY['TAKE_BALANCE', 'USE_COUPON'], ARRAY['DONE', 'ATTEMPT'], ARRAY[NULL, NULL]::text[]) WITH ORDINALITY AS t(step, event, detail, n) ORDER BY t.n) SELECT * FROM saved;
-- step USE_COUPON (only payments with a coupon: the one read when the order was placed)
BEGIN;
SELECT id, user_id, coupon_id, name, discount_type, discount_value, max_discount_amount, target_product_id, status, issued_at, expires_at, used_at, used_by_payment_id, order_id FROM coupons.user_coupons WHERE id = :uc FOR UPDATE;
SELECT payment_id, user_coupon_id, status FROM coupons.coupon_payment_steps WHERE payment_id = :payment_id;
INSERT INTO coupons.coupon_payment_steps (payment_id, user_coupon_id, status) VALUES (:payment_id, :uc, 'USED') ON CONFLICT (payment_id) DO NOTHING RETURNING true;
UPDATE coupons.user_coupons SET status = 'USED', used_at = now(), used_by_payment_id = :payment_id, order_id = :order_id WHERE id = :uc;
COMMIT;
WITH saved AS (UPDATE payments.payments SET status = 'PENDING', done = '{TAKE_STOCK,TAKE_BALANCE,USE_COUPON}', attempted = 'MARK_ORDER_PAID', failure_code = NULL, failure_detail = NULL, paid_at = now(), updated_at = now(), lease_until = now() + make_interval(secs => 30) WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT saved.id, saved.status, t.step, t.event, t.detail FROM saved, unnest(ARRAY['USE_COUPON', 'MARK_ORDER_PAID'], ARRAY['DONE', 'ATTEMPT'], ARRAY[NULL, NULL]::text[]) WITH ORDINALITY AS t(step, event, detail, n) ORDER BY t.n) SELECT * FROM saved;
\else
WITH saved AS (UPDATE payments.payments SET status = 'PENDING', done = '{TAKE_STOCK,TAKE_BALANCE}', attempted = 'MARK_ORDER_PAID', failure_code = NULL, failure_detail = NULL, balance_after = 1, paid_at = now(), updated_at = now(), lease_until = now() + make_interval(secs => 30) WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT saved.id, saved.status, t.step, t.event, t.detail FROM saved, unnest(ARRAY['TAKE_BALANCE', 'MARK_ORDER_PAID'], ARRAY['DONE', 'ATTEMPT'], ARRAY[NULL, NULL]::text[]) WITH ORDINALITY AS t(step, event, detail, n) ORDER BY t.n) SELECT * FROM saved;
\endif
-- step MARK_ORDER_PAID, then the final save: the PaymentCompleted outbox row and the stored answer
BEGIN;
SELECT id, user_id, status, total_amount, discount_amount, pay_amount, user_coupon_id, coupon_id, coupon_discount_type, coupon_discount_value, coupon_max_discount_amount, coupon_target_product_id, payment_id, created_at, paid_at, refunded_at, (SELECT jsonb_agg(jsonb_build_array(product_id, option_id, product_name, option_name, unit_price, quantity) ORDER BY line_no) FROM orders.order_lines WHERE order_id = orders.id) AS lines FROM orders.orders WHERE id = :order_id FOR UPDATE OF orders;
UPDATE orders.orders SET status = 'PAID', payment_id = :payment_id, paid_at = coalesce(now(), now()), updated_at = now() WHERE id = :order_id AND status = 'PENDING_PAYMENT' AND NOT EXISTS (SELECT FROM orders.orders other WHERE other.payment_id = :payment_id AND other.id <> :order_id) RETURNING paid_at;
INSERT INTO orders.outbox (topic, key, bucket, event_id, event_type, payload, headers) VALUES ('order-events', :order_id, 2, gen_random_uuid(), 'OrderPaid', '{"event_id": "00000000-0000-0000-0000-000000000000", "occurred_at": "2026-01-01T00:00:00Z", "schema_version": 1, "order_id": 1, "user_id": 1, "payment_id": 1, "paid_at": "2026-01-01T00:00:00Z"}', '{}');
COMMIT;
BEGIN;
WITH saved AS (UPDATE payments.payments SET status = 'COMPLETED', done = '{TAKE_STOCK,TAKE_BALANCE,MARK_ORDER_PAID}', attempted = NULL, failure_code = NULL, failure_detail = NULL, updated_at = now(), lease_owner = NULL, lease_until = NULL WHERE id = :payment_id AND lease_owner = 'pgbench' RETURNING *), logged AS (INSERT INTO payments.payment_transitions (payment_id, status, step, event, detail) SELECT saved.id, saved.status, t.step, t.event, t.detail FROM saved, unnest(ARRAY['MARK_ORDER_PAID'], ARRAY['DONE'], ARRAY[NULL]::text[]) WITH ORDINALITY AS t(step, event, detail, n) ORDER BY t.n) SELECT * FROM saved;
INSERT INTO payments.outbox (topic, key, bucket, event_id, event_type, payload, headers) VALUES ('payment-completed', :order_id, 3, gen_random_uuid(), 'PaymentCompleted', '{"event_id": "00000000-0000-0000-0000-000000000000", "occurred_at": "2026-01-01T00:00:00Z", "schema_version": 1, "payment_id": 1, "order_id": 1, "user_id": 1, "amount": 9000, "items": [{"product_id": 1, "option_id": 1, "quantity": 1, "unit_price": 10000, "product_name": "Bench product"}], "user_coupon_id": null, "balance_after": 1, "paid_at": "2026-01-01T00:00:00Z"}', '{}');
UPDATE payments.idempotency_keys SET status_code = 201, body = '{"paymentId": 1, "orderId": 1, "userId": 1, "amount": 9000, "status": "COMPLETED"}' WHERE user_id = :user AND key = 'pgbench-' || :order_id;
COMMIT;
