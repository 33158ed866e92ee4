"""python -m ops.rotate <tenant-db-password|redis-access-key|postgres-admin-password> [flags]: see ops/README.md."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
