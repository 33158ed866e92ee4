"""Backups that are proven: backup sets with a manifest, verification, restore drills with measured RPO/RTO, retention.

Public entry points (ops/README.md documents the CLI, its flags, environment variables and records):
- `ops.backup.cli.main(argv) -> int`: the CLI (`python -m ops.backup`), the container image's entrypoint.
- `run_backup`, `run_verify`, `run_drill`, `run_prune`: the same, as functions.
"""
from .backup import BackupOptions, run_backup
from .database import PgConfig
from .drill import DrillOptions, run_drill
from .errors import EXIT_FAILED, EXIT_FAULT, EXIT_OK, EXIT_USAGE, OpsError
from .retention import Policy, plan, run_prune
from .targets import AzureStore, S3Store, Transfer
from .verify import run_verify

__all__ = [
    "BackupOptions", "run_backup", "PgConfig", "DrillOptions", "run_drill", "EXIT_FAILED", "EXIT_FAULT", "EXIT_OK", "EXIT_USAGE",
    "OpsError", "Policy", "plan", "run_prune", "AzureStore", "S3Store", "Transfer", "run_verify",
]
