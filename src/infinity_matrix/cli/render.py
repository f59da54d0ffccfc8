"""How the CLI prints: JSON for machines, Rich tables for people, ``seq N`` after every write."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

_PIPED_WIDTH = 10_000


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def raw_text(text: str) -> None:
    """Exactly the text; a missing final newline is added only for a terminal's sake."""
    out = sys.stdout
    out.write(text)
    if not text.endswith("\n") and out.isatty():
        out.write("\n")
    out.flush()


def table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    view = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        view.add_column(column, overflow="fold")
    for row in rows:
        # Text, not str: a key or tag like "[draft]" is data, not Rich markup.
        view.add_row(*(Text(_cell(value)) for value in row))
    _console().print(view)


def fields(values: Mapping[str, object]) -> None:
    """One ``name: value`` line per field."""
    width = max((len(name) for name in values), default=0)
    for name, value in values.items():
        click.echo(f"{name.ljust(width)}  {_cell(value)}")


def receipt(answer: Mapping[str, Any], as_json: bool = False) -> None:
    """What a write answers: its seq (the same seq, flagged, when it was a repeat)."""
    if as_json:
        emit_json(answer)
        return
    repeat = " (duplicate: nothing appended)" if answer.get("duplicate") else ""
    click.echo(f"seq {answer['seq']}{repeat}")


def note(message: str) -> None:
    """A remark for the person at the terminal; on stderr so it never pollutes piped output."""
    click.echo(message, err=True)


def when(iso: str | None) -> str:
    """An ISO-8601 timestamp shortened to the second, for tables."""
    return iso[:19].replace("T", " ") if iso else ""


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        # Piped output goes to programs and pagers: one row per line, never folded at 80.
        console = Console(highlight=False, width=_PIPED_WIDTH)
    return console


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)


def stream_frame(frame: dict[str, Any], as_json: bool) -> None:
    """One line per change on the live stream (``imx ctx watch``)."""
    if as_json:
        if frame["type"] == "event":
            emit_line(json.dumps(frame["event"]))
        return
    if frame["type"] == "event":
        event = frame["event"]
        subject = event["subject"].removeprefix("context/")
        emit_line(f"{event['seq']:>6}  {event['type']:<16} {subject}  {event['actor']}")
    elif frame["type"] == "reset":
        emit_line("-- the hub could not resume this stream; changes may have been missed --")


def emit_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def history(events: list[dict[str, Any]]) -> None:
    """Events (as the API answers them) as a table: seq, type, actor, source, time."""
    rows = [(e["seq"], e["type"], e["actor"], e["source"], when(e["recorded_at"])) for e in events]
    table(("seq", "type", "actor", "source", "time"), rows)
