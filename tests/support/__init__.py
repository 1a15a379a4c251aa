"""Shared test helpers (network namespaces as separate hosts, ...). Importing them starts nothing."""
