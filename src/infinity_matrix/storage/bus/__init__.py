"""Buses that carry committed events to live subscribers (memory now; Redis with real-time sync)."""
