"""Local development stack for the commerce suite: infrastructure (PostgreSQL, Redis, Kafka, the
nginx gateway), the `make run` launcher, token minting, and the `Suite` the end-to-end tests start.

    python -m devstack run | infra | stop-infra | migrate | token [--user N] [--admin] [--ttl S]
"""
