"""The ranking service: popular products (SPEC.md section 6).

Reading order: `entrypoints/http.py` (the public API), `entrypoints/consumers.py` (the payment
events) and `entrypoints/schedule.py` (the daily rebuild), then `service_layer/` (`sales.py` records
sales and refunds, `popular.py` answers the ranking, `rebuild.py` and `backfill.py` are the batch),
`domain/` (the rules: calendar days, sales, ranking order) and `adapters/` (the SQL, the order
service's paid orders). `bootstrap.py` wires them; docs/rebuild.md explains the batch and its timings.
"""
