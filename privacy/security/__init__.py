"""Abuse limits and transport hardening: rate limits, IP blocks, trusted proxies, HTTPS."""
