"""Insights: what assistants and people learned, shared through the log with a readable confidence.

Import from the modules (``service``, ``records``, ``similarity``, ``confidence``): ``core.ports``
imports ``records``, so this package imports nothing itself.
"""
