"""The append-only audit log of every admin change."""
