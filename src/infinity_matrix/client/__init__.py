"""The hub's HTTP client, for the CLI, the real-time sync and the provider adapters."""

from infinity_matrix.client.http import DEFAULT_WORKSPACE, HubClient, TokensCallback, error_from

__all__ = ["DEFAULT_WORKSPACE", "HubClient", "TokensCallback", "error_from"]
