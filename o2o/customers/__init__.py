"""Pseudonymised customers: keyed hashes of openids, coarsened expiring last positions."""
