"""harness: run a fleet of AI coding agents on one shared git repository."""

__version__ = "0.1.0"
