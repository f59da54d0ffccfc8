"""Providers, framework-free: what an adapter is (``ports``), what it exchanges (``records``),
how it fails (``errors``), which changes each provider receives (``routing``), and the services
that configure providers, ask them, and keep them up to date. The SDK-backed adapters and the
resilient caller live in ``infinity_matrix.providers``."""
