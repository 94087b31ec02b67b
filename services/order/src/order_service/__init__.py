"""The order service: orders and their lines (SPEC.md section 4).

Reading order: `entrypoints/http.py` (the public API) and `entrypoints/internal.py` (what the payment
saga calls), then `service_layer/orders.py` (use cases) and `service_layer/expiry.py` (the periodic
expiry of unpaid orders), `domain/placing.py` (the checks and amounts of a new order) and
`domain/order.py` (the order's state machine), and `adapters/` (the SQL, and the catalog and coupon
services' internal APIs). `app.py` wires them.
"""
