"""Cost governance: price a plan offline (estimate), compare shared and dedicated hosting, refresh the price table."""
