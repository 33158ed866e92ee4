"""Non-production refresh: neutralised, masked copies of production (README.md "Refreshing non-production").

- `python -m ops.refresh export` (production): a backup set restored into the scratch refresh database with the
  neutralisation in the restore's own transaction, masked by a profile (profiles/*.yaml), verified, exported.
- `python -m ops.refresh import` (non-production): the newest masked export swapped into the environment's database
  in one transaction, with Odoo stopped around it.
"""
from .export import ExportOptions, run_export
from .importer import ImportOptions, run_import
from .profile import Profile, load

__all__ = ["ExportOptions", "run_export", "ImportOptions", "run_import", "Profile", "load"]
