"""Our log lines and uvicorn's come out alike, carry the request context, and hide secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest
import structlog

from infinity_matrix.observability.logging import REDACTED, configure_logging, redact_secrets


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    # configure_logging changes process-wide state; give the next test what it had.
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    yield
    structlog.configure(**saved_config)
    root.handlers, root.level = saved_handlers, saved_level
    structlog.contextvars.clear_contextvars()


def _json_lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line]


def test_redaction_hides_secret_named_keys_at_any_depth() -> None:
    event = {
        "event": "login",
        "password": "hunter2",
        "access_token": "eyJ",
        "client_secret": "s",
        "x-api-key": "imx_k",
        "headers": {"Authorization": "Bearer eyJ", "Accept": "*/*"},
        "attempts": [{"refresh_token": "r"}],
        "user": "ada",
    }

    assert redact_secrets(None, "info", event) == {
        "event": "login",
        "password": REDACTED,
        "access_token": REDACTED,
        "client_secret": REDACTED,
        "x-api-key": REDACTED,
        "headers": {"Authorization": REDACTED, "Accept": "*/*"},
        "attempts": [{"refresh_token": REDACTED}],
        "user": "ada",
    }


def test_redaction_leaves_keys_that_only_resemble_secrets() -> None:
    event = {"event": "token budget", "max_tokens": 5, "budget_tokens": 100, "tokenizer": "bpe"}

    assert redact_secrets(None, "info", event) == event


def test_json_lines_carry_timestamp_level_context_and_no_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    structlog.contextvars.bind_contextvars(request_id="r1")

    structlog.get_logger("imx.test").info("user.login", user="ada", password="hunter2")

    [line] = _json_lines(capsys.readouterr().err)
    timestamp = line.pop("timestamp")
    assert isinstance(timestamp, str)
    assert datetime.fromisoformat(timestamp).utcoffset() is not None
    assert line == {
        "event": "user.login",
        "user": "ada",
        "password": REDACTED,
        "request_id": "r1",
        "level": "info",
        "logger": "imx.test",
    }


def test_stdlib_records_such_as_uvicorns_are_rendered_the_same_way(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    structlog.contextvars.bind_contextvars(request_id="r2")

    logging.getLogger("uvicorn.error").info("Application startup complete.")

    [line] = _json_lines(capsys.readouterr().err)
    assert line["event"] == "Application startup complete."
    assert (line["level"], line["logger"], line["request_id"]) == ("info", "uvicorn.error", "r2")
    assert "timestamp" in line


def test_lines_below_the_level_are_dropped(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "warning")

    structlog.get_logger("imx.test").info("quiet")
    logging.getLogger("uvicorn.error").info("quiet too")
    structlog.get_logger("imx.test").warning("loud")

    assert [line["event"] for line in _json_lines(capsys.readouterr().err)] == ["loud"]


def test_json_lines_carry_the_traceback_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info")

    try:
        raise ValueError("broken")
    except ValueError:
        structlog.get_logger("imx.test").exception("failed")

    [line] = _json_lines(capsys.readouterr().err)
    assert "ValueError: broken" in str(line["exception"])


def test_console_lines_are_human_readable_and_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("console", "info")

    structlog.get_logger("imx.test").info("user.login", token="eyJsecret")

    err = capsys.readouterr().err
    assert "user.login" in err
    assert "eyJsecret" not in err
