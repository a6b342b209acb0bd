"""Retention: policies and legal holds from the retention file, the purge engine, its API."""
