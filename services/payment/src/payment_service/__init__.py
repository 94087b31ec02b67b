"""The payment service: the payment saga (SPEC.md section 5) and the refund saga.

Reading order: `entrypoints/http.py` (POST /payments), `service_layer/payments.py` (the use cases that
start a saga and answer), `service_layer/driver.py` (runs a saga step by step, persisting before each),
`domain/saga.py` (the state machine: which step comes next, what to undo), `adapters/` (the SQL and
the other services' internal APIs), `entrypoints/consumers.py` (the data-platform delivery).
"""
