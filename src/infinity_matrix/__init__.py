"""Infinity Matrix: a self-hosted shared-context hub for AI assistants."""

__version__ = "0.1.0"
