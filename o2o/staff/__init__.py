"""Staff accounts, roles scoped to regions and outlets, and API tokens."""
