"""Reusable ComponentResources of the odoo-platform. Components never read pulumi.Config."""
