"""``imx serve``: run the hub (REST API, health, metrics) with uvicorn in this process."""

from __future__ import annotations

import enum
from typing import Annotated

import structlog
import typer

from infinity_matrix.cli import runtime


class LogFormat(enum.StrEnum):
    CONSOLE = "console"
    JSON = "json"


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Default: IMX_HOST (127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Default: IMX_PORT.")] = None,
    log_format: Annotated[LogFormat | None, typer.Option(help="Default: IMX_LOG_FORMAT.")] = None,
    log_level: Annotated[LogLevel | None, typer.Option(help="Default: IMX_LOG_LEVEL.")] = None,
) -> None:
    """Start the hub; a new database gets workspace 'default' and an owner key on first start.

    Stops gracefully on SIGINT or SIGTERM, finishing the requests in flight.
    """
    # Imported here: the client commands should not pay for the server's imports.
    import uvicorn

    from infinity_matrix.gateway.app import create_app
    from infinity_matrix.hub import Hub
    from infinity_matrix.observability.logging import configure_logging

    settings = runtime.settings(
        ctx,
        host=host,
        port=port,
        log_format=log_format.value if log_format else None,
        log_level=log_level.value if log_level else None,
    )
    configure_logging(settings.log_format, settings.log_level)
    hub = Hub.build(settings)
    config = uvicorn.Config(
        create_app(hub),  # its lifespan starts the hub: migrations, then first-start bootstrap
        host=settings.host,
        port=settings.port,
        log_config=None,  # keep configure_logging's handlers
        access_log=False,  # the request log is ours, with request ids
        proxy_headers=False,  # never trust X-Forwarded-* unless a deployment says so
        server_header=False,
        # Per-message deflate keeps tens of KB of zlib state per connection that offers it
        # (browsers do); Yjs updates are small and gain little from it.
        ws_per_message_deflate=False,
        lifespan="on",
    )
    structlog.get_logger(__name__).info(
        "hub.serving",
        url=f"http://{settings.host}:{settings.port}",
        home=str(settings.home),
        database=hub.database.url.get_backend_name(),
        credentials=str(settings.credentials_file),
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:  # startup failed (port taken, database down); uvicorn logged why
        raise typer.Exit(runtime.EXIT_FAILURE)
