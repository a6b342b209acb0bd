"""Privacy Vault: a self-hosted GDPR vault for personal data."""

__version__ = "0.1.0"
