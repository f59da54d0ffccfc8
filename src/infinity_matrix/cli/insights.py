"""``imx insight``: record what an assistant or a person learned, read it back with its
confidence (and why), give feedback, and see how sources have fared."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, WorkspaceOption
from infinity_matrix.client import HubClient

app = typer.Typer(
    help="Insights: patterns, decisions, pitfalls, conventions, facts and todos, with confidence.",
    no_args_is_help=True,
)

KINDS = ("pattern", "decision", "pitfall", "convention", "fact", "todo")
VERDICTS = ("accepted", "rejected", "outdated")
EVIDENCE_TYPES = ("context", "entity", "insight")

Kind = Annotated[str | None, typer.Option("--kind", "-k", help=f"One of: {', '.join(KINDS)}.")]
Limit = Annotated[int, typer.Option("--limit", "-n", min=1, max=500, help="At most this many.")]


@app.command("add")
def add(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="One line saying what was learned.")],
    kind: Annotated[str, typer.Option("--kind", "-k", help=f"One of: {', '.join(KINDS)}.")],
    body: Annotated[
        str | None, typer.Option("--body", "-b", help="The details; '-' reads stdin.")
    ] = None,
    body_file: Annotated[
        Path | None, typer.Option("--body-file", help="Read the details from a file.")
    ] = None,
    tags: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="A tag (repeatable).")
    ] = None,
    topic: Annotated[
        str | None,
        typer.Option(
            help="What it is about (e.g. db/staging-port); a differing insight on the "
            "same topic contradicts it."
        ),
    ] = None,
    evidence: Annotated[
        list[str] | None,
        typer.Option(
            "--evidence",
            "-e",
            help="context:KEY, entity:NAME or insight:ID (repeatable).",
        ),
    ] = None,
    contradicts: Annotated[
        list[int] | None, typer.Option(help="The id of an insight this one replaces (repeatable).")
    ] = None,
    assistant: Annotated[str | None, typer.Option(help="The assistant that found it.")] = None,
    model: Annotated[str | None, typer.Option(help="The model behind that assistant.")] = None,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Record an insight; a near-duplicate of an existing one corroborates it instead."""
    if kind not in KINDS:
        runtime.usage(f"--kind must be one of: {', '.join(KINDS)}")
    text = _body(body, body_file)
    payload: dict[str, Any] = {
        "kind": kind,
        "title": title,
        "body": text,
        "tags": tags or [],
        "evidence": [_evidence(item) for item in evidence or []],
        "contradicts": contradicts or [],
    }
    for name, value in (("topic", topic), ("assistant", assistant), ("model", model)):
        if value is not None:
            payload[name] = value
    answer = runtime.call(ctx, lambda c: c.record_insight(payload), workspace=workspace)
    if as_json:
        render.emit_json(answer)
        return
    insight = answer["insight"]
    verb = "corroborated" if answer.get("outcome") == "corroborated" else "recorded"
    click.echo(f"{verb} insight {insight['id']}  (confidence {_pct(insight)})")
    for gone in answer.get("superseded") or []:
        click.echo(f"supersedes insight {gone}")
    render.receipt(answer)


@app.command("ls")
def ls(
    ctx: typer.Context,
    kind: Kind = None,
    tag: Annotated[str | None, typer.Option("--tag", "-t", help="Only with this tag.")] = None,
    topic: Annotated[str | None, typer.Option(help="Only about this topic.")] = None,
    status: Annotated[
        str | None, typer.Option(help="active (default), superseded, outdated or all.")
    ] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Full-text search.")] = None,
    limit: Limit = 50,
    everything: Annotated[bool, typer.Option("--all", help="Every page.")] = False,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Insights with their confidence, newest first (best match first with --query)."""

    async def fetch(client: HubClient) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await client.insights(
                kind=kind,
                tag=tag,
                topic=topic,
                status=status,
                query=query,
                cursor=cursor,
                limit=limit,
            )
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not everything or not cursor:
                return items

    items = runtime.call(ctx, fetch, workspace=workspace)
    if as_json:
        render.emit_json(items)
        return
    if not items:
        render.note("no insights")
        return
    rows = [
        (
            i["id"],
            i["kind"],
            _pct(i),
            i.get("status", ""),
            i["title"],
            i.get("topic") or "",
            _source(i),
        )
        for i in items
    ]
    render.table(("id", "kind", "conf", "status", "title", "topic", "source"), rows)


@app.command("show")
def show(
    ctx: typer.Context,
    insight_id: Annotated[int, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """One insight: its text, sources, links, and how its confidence was reached."""
    insight = runtime.call(ctx, lambda c: c.get_insight(insight_id), workspace=workspace)
    if as_json:
        render.emit_json(insight)
        return
    click.echo(f"#{insight['id']}  [{insight['kind']}]  {insight['title']}")
    click.echo("")
    if insight.get("body"):
        click.echo(insight["body"])
        click.echo("")
    render.fields(
        {
            "status": insight.get("status"),
            "topic": insight.get("topic"),
            "tags": insight.get("tags"),
            "source": _source(insight),
            "corroborated by": [s["source_key"] for s in insight.get("supports", [])[1:]],
            "superseded by": insight.get("superseded_by"),
            "conflicts with": insight.get("conflicts"),
            "evidence": [f"{e['type']}:{e['ref']}" for e in insight.get("evidence", [])],
            "occurrences": [
                f"{o['key']}:{o['start_line']}-{o['end_line']}"
                for o in insight.get("occurrences", [])
            ],
            "feedback": _feedback(insight),
            "recorded": render.when(insight.get("created_at")),
        }
    )
    confidence = insight.get("confidence") or {}
    click.echo("")
    click.echo(f"confidence {_pct(insight)}")
    render.table(
        ("part", "contribution", "why"),
        [
            (p["name"], f"{p['value']:+.3f}", p.get("detail", ""))
            for p in confidence.get("parts", [])
        ],
    )


@app.command("feedback")
def feedback(
    ctx: typer.Context,
    insight_id: Annotated[int, typer.Argument(metavar="ID")],
    verdict: Annotated[str, typer.Argument(help="accepted, rejected or outdated.")],
    note: Annotated[str | None, typer.Option(help="Why, for the people who read it.")] = None,
    assistant: Annotated[str | None, typer.Option(help="The assistant giving it.")] = None,
    model: Annotated[str | None, typer.Option(help="The model behind that assistant.")] = None,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Say whether an insight held up; this teaches the hub how far its sources can be trusted."""
    if verdict not in VERDICTS:
        runtime.usage(f"VERDICT must be one of: {', '.join(VERDICTS)}")
    answer = runtime.call(
        ctx,
        lambda c: c.insight_feedback(
            insight_id, verdict, note=note, assistant=assistant, model=model
        ),
        workspace=workspace,
    )
    if as_json:
        render.emit_json(answer)
        return
    click.echo(f"insight {insight_id}: {verdict}  (confidence now {_pct(answer['insight'])})")
    render.receipt(answer)


@app.command("stats")
def stats(
    ctx: typer.Context,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """How often insights were served and how they were judged, and each source's reliability."""
    answer = runtime.call(ctx, lambda c: c.insight_stats(), workspace=workspace)
    if as_json:
        render.emit_json(answer)
        return
    totals = {k: v for k, v in answer.items() if not isinstance(v, list | dict)}
    render.fields(totals)
    for name, value in answer.items():
        if isinstance(value, dict) and value:
            click.echo("")
            render.fields({f"{name} {k}": v for k, v in value.items()})
    sources = answer.get("sources") or []
    if sources:
        click.echo("")
        render.table(
            ("source", "reliability", "accepted", "rejected", "outdated", "served"),
            [
                (
                    s["key"],
                    f"{s['reliability']:.2f}",
                    _num(s.get("accepted")),
                    _num(s.get("rejected")),
                    _num(s.get("outdated")),
                    s.get("served", 0),
                )
                for s in sources
            ],
        )


@app.command("patterns")
def patterns(
    ctx: typer.Context,
    scan: Annotated[
        bool, typer.Option("--scan", help="Fingerprint every entry first (a backfill).")
    ] = False,
    limit: Limit = 50,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Code shapes that recur across context entries (files, snippets in notes and answers),
    found by rename- and format-insensitive syntax fingerprints; largest first."""

    async def fetch(client: HubClient) -> dict[str, Any]:
        report = await client.scan_patterns() if scan else None
        return {"scan": report, "items": await client.patterns(limit=limit)}

    answer = runtime.call(ctx, fetch, workspace=workspace)
    if as_json:
        render.emit_json(answer if scan else answer["items"])
        return
    if answer["scan"] is not None:
        render.fields(answer["scan"])
        click.echo("")
    if not answer["items"]:
        render.note("no recurring code shapes")
    for item in answer["items"]:
        click.echo(
            f"{item['kind']} ({item['language']}, size {item['mass']})  {item['fingerprint'][:12]}"
        )
        for o in item["occurrences"]:
            click.echo(f"  {o['key']}:{o['start_line']}-{o['end_line']}  {o['name']}")


def _body(body: str | None, body_file: Path | None) -> str:
    if body is not None and body_file is not None:
        runtime.usage("give --body or --body-file, not both")
    if body_file is not None:
        try:
            return body_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            runtime.fail("cli.unreadable_file", f"cannot read {body_file}: {exc}")
    if body == "-":
        return sys.stdin.read()
    return body or ""


def _evidence(item: str) -> dict[str, str]:
    kind, sep, ref = item.partition(":")
    if not sep or kind not in EVIDENCE_TYPES or not ref:
        runtime.usage(f"--evidence takes TYPE:REF with TYPE one of {', '.join(EVIDENCE_TYPES)}")
    return {"type": kind, "ref": ref}


def _pct(insight: dict[str, Any]) -> str:
    confidence = insight.get("confidence") or {}
    value = confidence.get("value")
    return f"{value * 100:.0f}%" if isinstance(value, int | float) else "?"


def _source(insight: dict[str, Any]) -> str:
    parts = [insight.get("actor"), insight.get("assistant"), insight.get("model")]
    return " / ".join(str(p) for p in parts if p)


def _feedback(insight: dict[str, Any]) -> str:
    counts = insight.get("feedback") or insight
    return ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    return "" if value is None else str(value)
