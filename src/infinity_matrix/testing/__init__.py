"""Helpers for tests of the hub and of code built on it (public: plugins use them too)."""
