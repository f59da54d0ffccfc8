"""Configure structlog and the standard library so every log line, ours or uvicorn's, looks alike.

Lines carry an ISO-8601 UTC timestamp, the level, the logger name, whatever the request bound
with ``structlog.contextvars`` (request id, method, path) and never the value of a secret.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "***"

# Whole words of a snake_case (or kebab-case) key, so ``access_token`` and ``x-api-key`` are
# hidden but ``max_tokens`` and ``budget_tokens`` are not.
_SECRET_KEY = re.compile(
    r"(^|_)(password|passwd|secret|token|authorization|api_?key|cookie)(_|$)", re.IGNORECASE
)


def redact_secrets(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace the value of every secret-named key, nested ones too."""
    return {key: _redact(key, value) for key, value in event_dict.items()}


def _redact(key: object, value: Any) -> Any:
    if isinstance(key, str) and key != "event" and _is_secret_name(key):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: _redact(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(None, item) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact(None, item) for item in value)
    return value


def _is_secret_name(key: str) -> bool:
    return _SECRET_KEY.search(key.replace("-", "_")) is not None


def configure_logging(fmt: Literal["console", "json"], level: str) -> None:
    """Route structlog and stdlib logging (uvicorn included) through one formatter on stderr.

    Call once at startup, before uvicorn starts (run it with ``log_config=None`` so it keeps
    this configuration).
    """
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        redact_secrets,
    ]
    structlog.configure(
        # filter_by_level first: a line below the level costs nothing more than the check.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: tests (structlog.testing.capture_logs) and reconfiguration must reach
        # loggers that were created at import time.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.ExtraAdder(), _drop_color_message, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *_renderers(fmt),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        # uvicorn installs its own handlers; let its records reach ours instead.
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True


def _drop_color_message(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    # uvicorn passes an ANSI-coloured copy of each message as an "extra"; we render our own.
    event_dict.pop("color_message", None)
    return event_dict


def _renderers(fmt: Literal["console", "json"]) -> list[Processor]:
    if fmt == "json":
        return [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    # Colours only for a person at a terminal; files and pipes get plain text.
    return [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
