"""``imx graph``: the knowledge graph: list, search, show, history, and import/export of the
reference memory server's ``memory.jsonl``."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, WorkspaceOption
from infinity_matrix.client import HubClient
from infinity_matrix.core.knowledge import memoryfile
from infinity_matrix.errors import InvalidInput

app = typer.Typer(
    help="The knowledge graph of a workspace (entities, relations).", no_args_is_help=True
)

Limit = Annotated[
    int, typer.Option("--limit", "-n", min=1, max=1000, help="At most this many items a page.")
]
Everything = Annotated[bool, typer.Option("--all", help="Every page, not just the first.")]
Details = Annotated[
    bool, typer.Option("--details", help="With provenance, confidence and validity.")
]


@app.command("ls")
def ls(
    ctx: typer.Context,
    limit: Limit = 100,
    everything: Everything = False,
    details: Details = False,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Entities, then relations, in the order they were created."""

    async def fetch(client: HubClient, cursor: str | None) -> dict[str, Any]:
        return await client.graph_read(cursor=cursor, limit=limit, details=details)

    _show_page(
        runtime.call(ctx, lambda c: _pages(c, fetch, everything), workspace=workspace), as_json
    )


@app.command("search")
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Text in a name, a type or an observation.")],
    limit: Limit = 100,
    everything: Everything = False,
    details: Details = False,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Entities containing QUERY (any case), and the relations from or to them."""

    async def fetch(client: HubClient, cursor: str | None) -> dict[str, Any]:
        return await client.graph_search(query, cursor=cursor, limit=limit, details=details)

    _show_page(
        runtime.call(ctx, lambda c: _pages(c, fetch, everything), workspace=workspace), as_json
    )


@app.command("show")
def show(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Entity names.")],
    details: Details = False,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """The named entities with their observations, and the relations from or to them."""

    async def fetch(client: HubClient, cursor: str | None) -> dict[str, Any]:
        return await client.graph_open(names, cursor=cursor, limit=1000, details=details)

    page = runtime.call(ctx, lambda c: _pages(c, fetch, True), workspace=workspace)
    if as_json:
        render.emit_json(page)
        return
    if not page["entities"]:
        render.note("no such entity")
    for entity in page["entities"]:
        click.echo(f"{entity['name']}  ({entity['entityType']})")
        for observation in entity["observations"]:
            click.echo(f"  - {observation}")
    if page["relations"]:
        click.echo("")
        _relations_table(page["relations"])


@app.command("history")
def history(
    ctx: typer.Context,
    name: str,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 20,
    before: Annotated[int | None, typer.Option(help="Only events before this seq.")] = None,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Events about an entity name, newest first (deleted entities too)."""
    events = runtime.call(
        ctx, lambda c: c.graph_history(name, before=before, limit=limit), workspace=workspace
    )
    if as_json:
        render.emit_json(events)
        return
    render.history(events)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="A memory.jsonl file; '-' reads stdin.")],
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Merge a reference memory server's memory.jsonl; importing it again adds nothing."""
    data = sys.stdin.buffer.read() if file == "-" else _read_file(Path(file))
    try:
        memoryfile.parse(data)  # a bad line is reported before anything is sent
    except InvalidInput as exc:
        runtime.fail(exc.code, exc.detail)
    report = runtime.call(ctx, lambda c: c.graph_import(data), workspace=workspace)
    if as_json:
        render.emit_json(report)
        return
    render.fields(
        {
            "lines": report["lines"],
            "entities": report["entities"],
            "observations": report["observations"],
            "relations": report["relations"],
            "seq": report["seq"],
        }
    )


@app.command("export")
def export(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="Write to F, not stdout.")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Write the graph as a memory.jsonl that the reference memory server reads."""

    async def write(client: HubClient) -> int:
        count = 0
        sink = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            async for line in client.graph_export():
                sink.write(line + "\n")
                count += 1
        finally:
            if output:
                sink.close()
            else:
                sink.flush()
        return count

    count = runtime.call(ctx, write, workspace=workspace)
    if output:
        render.note(f"{count} lines written to {output}")


Fetch = Callable[[HubClient, str | None], Awaitable[dict[str, Any]]]


async def _pages(client: HubClient, fetch: Fetch, everything: bool) -> dict[str, Any]:
    """One page, or with ``everything`` all pages merged into one."""
    page: dict[str, Any] = await fetch(client, None)
    while everything and page.get("next_cursor"):
        more = await fetch(client, page["next_cursor"])
        page["entities"] += more["entities"]
        page["relations"] += more["relations"]
        page["next_cursor"] = more["next_cursor"]
    return page


def _show_page(page: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render.emit_json(page)
        return
    rows = [(e["name"], e["entityType"], len(e["observations"])) for e in page["entities"]]
    render.table(("name", "type", "observations"), rows)
    if page["relations"]:
        click.echo("")
        _relations_table(page["relations"])
    if page.get("next_cursor"):
        render.note("more after this page: use --all or a larger --limit")


def _relations_table(relations: list[dict[str, Any]]) -> None:
    rows = [(r["from"], r["relationType"], r["to"]) for r in relations]
    render.table(("from", "relation", "to"), rows)


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        runtime.usage(f"cannot read {path}: {exc.strerror}")
