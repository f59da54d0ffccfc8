"""``imx ctx``: write, read, list, search, delete context entries and read one entry's history."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, WorkspaceOption
from infinity_matrix.client import HubClient

app = typer.Typer(help="Context entries of a workspace.", no_args_is_help=True)

Limit = Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="At most this many.")]


@app.command("put")
def put(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="Path-like key, e.g. notes/architecture.md")],
    value: Annotated[
        str | None, typer.Argument(help="The value; '-' or nothing reads stdin when piped.")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", exists=True, dir_okay=False, help="Read the value from F."),
    ] = None,
    json_data: Annotated[
        bool, typer.Option("--json-data", help="Parse the value as a JSON object (kind json).")
    ] = False,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="A tag (repeatable).")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Repeat-safe: same key, same seq.")
    ] = None,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Write a whole value; it merges with live editors. Prints the seq of the change."""
    raw = _read_value(value, file)
    text, data = (None, _json_object(raw)) if json_data else (raw, None)
    answer = runtime.call(
        ctx,
        lambda c: c.put_context(
            key, text=text, data=data, tags=tag, idempotency_key=idempotency_key
        ),
        workspace=workspace,
    )
    render.receipt(answer, as_json)


@app.command("get")
def get(
    ctx: typer.Context, key: str, as_json: JsonFlag = False, workspace: WorkspaceOption = None
) -> None:
    """Print an entry: the raw text of a text entry, pretty JSON of a data entry."""
    entry = runtime.call(ctx, lambda c: c.get_context(key), workspace=workspace)
    if as_json:
        render.emit_json(entry)
    elif entry["kind"] == "text":
        render.raw_text(entry["text"] or "")
    else:
        render.emit_json(entry["data"])


@app.command("ls")
def ls(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="Only keys starting with this.")] = "",
    limit: Limit = 100,
    everything: Annotated[bool, typer.Option("--all", help="Every page, not just one.")] = False,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List entries in key order."""
    if everything:
        page = runtime.call(ctx, lambda c: _all_entries(c, prefix, limit), workspace=workspace)
    else:
        page = runtime.call(ctx, lambda c: c.list_context(prefix, limit=limit), workspace=workspace)
    if as_json:
        render.emit_json(page)
        return
    columns = ("key", "kind", "size", "seq", "updated", "by", "tags")
    rows = [
        (
            e["key"],
            e["kind"],
            e["size"],
            e["seq"],
            render.when(e["updated_at"]),
            e["updated_by"],
            e["tags"],
        )
        for e in page["items"]
    ]
    render.table(columns, rows)
    if page.get("next_cursor"):
        render.note(f"more entries after {page['next_cursor']!r}: use --all or a larger --limit")


@app.command("search")
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help='Words; "a phrase", -excluded; last word = prefix.')],
    prefix: Annotated[str, typer.Option("--prefix", "-p", help="Only keys starting with P.")] = "",
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, max=100, help="At most this many.")
    ] = 20,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Full-text search over keys and values, best matches first."""
    hits = runtime.call(
        ctx, lambda c: c.search(query, prefix=prefix, limit=limit), workspace=workspace
    )
    if as_json:
        render.emit_json(hits)
        return
    rows = [
        (h["key"], h["kind"], f"{h['score']:.3g}", h["seq"], " ".join(h["snippet"].split()))
        for h in hits
    ]
    render.table(("key", "kind", "score", "seq", "snippet"), rows)


@app.command("rm")
def rm(
    ctx: typer.Context,
    key: str,
    idempotency_key: Annotated[str | None, typer.Option("--idempotency-key")] = None,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Delete an entry (its history stays in the log)."""
    answer = runtime.call(
        ctx,
        lambda c: c.delete_context(key, idempotency_key=idempotency_key),
        workspace=workspace,
    )
    render.receipt(answer, as_json)


@app.command("history")
def history(
    ctx: typer.Context,
    key: str,
    limit: Limit = 20,
    before: Annotated[int | None, typer.Option(help="Only changes before this seq.")] = None,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The changes of one entry, newest first."""
    events = runtime.call(
        ctx, lambda c: c.history(key, before=before, limit=limit), workspace=workspace
    )
    if as_json:
        render.emit_json(events)
        return
    render.history(events)


@app.command("watch")
def watch(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="Only keys starting with this.")] = "",
    after: Annotated[
        int | None, typer.Option(help="Replay changes after this seq first (default: from now).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON event per line.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Print changes live as they happen; survives dropped connections (Ctrl-C stops)."""

    async def follow(client: HubClient) -> None:
        async with await client.stream(prefix=prefix, after=after) as stream:
            async for frame in stream.frames():
                render.stream_frame(frame, as_json)

    with contextlib.suppress(KeyboardInterrupt):
        runtime.call(ctx, follow, workspace=workspace)


async def _all_entries(client: HubClient, prefix: str, page_size: int) -> dict[str, Any]:
    items = [item async for item in client.iter_context(prefix, page_size=page_size)]
    return {"items": items, "next_cursor": None}


def _read_value(value: str | None, file: Path | None) -> str:
    if file is not None:
        if value is not None:
            runtime.usage("give VALUE or --file, not both")
        try:
            return file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            runtime.usage(f"{file} is not UTF-8 text")
    stdin = sys.stdin
    if value == "-" or (value is None and not stdin.isatty()):
        return stdin.read()
    if value is None:
        runtime.usage("give VALUE, --file F, or pipe the value on stdin")
    return value


def _json_object(raw: str) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        runtime.usage(f"--json-data: the value is not JSON ({exc})")
    if not isinstance(parsed, dict):
        runtime.usage("--json-data: the value must be a JSON object")
    return parsed
