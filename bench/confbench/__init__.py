"""The confidence benchmark: a seeded world of sources asserting answers, the baselines, and the
two ways of feeding our model (its pure functions, or the hub's REST API)."""
