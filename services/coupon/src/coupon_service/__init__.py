"""The coupon service: coupon policies and the users' coupons (SPEC.md section 3).

Reading order: `entrypoints/http.py` (the public API) and `entrypoints/internal.py` (what the order
service and the payment saga call), then the use cases in `service_layer/` (`policies.py`,
`user_coupons.py`, `issuing.py`), the rules in `domain/` (`policy.py`, `user_coupon.py`,
`payment_steps.py`), and `adapters/repository.py` (the SQL). `app.py` wires them.
"""
