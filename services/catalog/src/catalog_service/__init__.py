"""The catalog service: products, their options and the options' stock (SPEC.md section 2).

Reading order: `entrypoints/http.py` (the public API) and `entrypoints/internal.py` (what the order
service and the payment saga call), then `service_layer/products.py` and
`service_layer/stock_takes.py` (use cases), `domain/stock.py` (the stock rules) and
`adapters/repository.py` (the SQL). `app.py` wires them; `service_layer/cache.py` is the read cache
of the public pages.
"""
