"""python -m ops.backup <backup|verify|drill|prune> [flags]: see ops/README.md."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
