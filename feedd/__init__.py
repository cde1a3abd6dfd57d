"""feedd: a self-hosted paper-alert daemon."""

__version__ = "0.1.0"
