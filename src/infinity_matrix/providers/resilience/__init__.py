"""The one resilient caller of providers: retries with jittered backoff and ``Retry-After``,
deadlines, circuit breakers per deployment, rpm/tpm limits, and fallbacks."""
