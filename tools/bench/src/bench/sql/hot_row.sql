-- pgbench: the naive first-come-first-served issue, one UPDATE of a single hot row per copy (the
-- statement the coupon service's migration names, on a scratch table in a scratch database).
UPDATE bench_hot_row SET remaining = remaining - 1 WHERE id = 1 AND remaining > 0;
