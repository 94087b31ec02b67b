"""The user service: users, their wallets and the wallet's transaction history (SPEC.md section 1).

Reading order: `entrypoints/http.py` (the public API) and `entrypoints/internal.py` (what the payment
saga calls), then `service_layer/wallets.py` (use cases), `domain/wallet.py` (the rules), and
`adapters/repository.py` (the SQL). `app.py` wires them.
"""
