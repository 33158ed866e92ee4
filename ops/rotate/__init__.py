"""Secret rotation without downtime: tenant database passwords, the PostgreSQL admin password, the Redis access key.
See ops/README.md and ops/rotate/rotate.py."""
