"""Clients of external services, one module per vendor (several domains may share one)."""
