"""``imx sync-files``: render the workspace briefing to the instruction files and MCP configs
of file-reading assistants in a directory, keep them current (``--watch``), or take them out
(``--revert``). The rules that keep other files safe live in ``providers.instructions.sync``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import anyio
import click
import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, WorkspaceOption
from infinity_matrix.client import HubClient
from infinity_matrix.errors import InfinityMatrixError
from infinity_matrix.providers.instructions import (
    TARGETS,
    ManifestError,
    RenderOptions,
    Source,
    SyncPlan,
    apply,
    plan_revert,
    plan_sync,
)

DEBOUNCE_SECONDS = 0.3  # a burst of changes (a paste, a batch of insights) renders once
RETRY_SECONDS = 2.0  # after a failed render while watching
BRIEFING_TARGET = "instruction-files"  # what the insights rendered are counted as served to

_Once = Callable[[HubClient], Awaitable[SyncPlan]]
_Done = Callable[[SyncPlan], None]
_Frames = AsyncIterator[dict[str, Any]]
_Plan = Callable[[], SyncPlan]


def sync_files(
    ctx: typer.Context,
    directory: Annotated[
        Path, typer.Argument(file_okay=False, help="The project directory (default: here).")
    ] = Path(),
    target: Annotated[
        str, typer.Option("--target", "-t", help=f"Comma-separated, of: {','.join(TARGETS)}.")
    ] = ",".join(TARGETS),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print a diff per file; write nothing.")
    ] = False,
    revert: Annotated[
        bool, typer.Option("--revert", help="Remove what imx generated here.")
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Re-render on every change (Ctrl-C stops).")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite (or remove) generated files edited since.")
    ] = False,
    apply_to: Annotated[
        list[str] | None,
        typer.Option(
            "--apply-to", help="SECTION=GLOB for a section's file (default **); repeatable."
        ),
    ] = None,
    prefix: Annotated[str, typer.Option(help="Only context keys starting with this.")] = "",
    budget_chars: Annotated[
        int | None, typer.Option(help="Size of the briefing in characters.")
    ] = None,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Write the briefing to AGENTS.md, CLAUDE.md, GEMINI.md, Copilot's and Cursor's rules and
    the MCP configs; only files imx wrote are ever changed."""
    targets = _targets(target)
    globs = _globs(apply_to or [])
    if revert and watch:
        runtime.usage("--revert and --watch do not go together")
    if dry_run and watch:
        runtime.usage("--dry-run and --watch do not go together")
    root = directory.absolute()
    if revert:
        plan = _checked(lambda: plan_revert(root, targets, force=force))
        _finish(plan, dry_run, as_json)
        return

    async def once(client: HubClient) -> SyncPlan:
        briefing = await client.briefing(
            prefix=prefix, budget_chars=budget_chars, target=BRIEFING_TARGET
        )
        source = Source(briefing["workspace"], briefing["text"], briefing["seq"])
        options = RenderOptions(hub_url=client.base_url, apply_to=globs)
        return _checked(lambda: plan_sync(root, source, targets, options, force=force))

    if not watch:
        plan = runtime.call(ctx, once, workspace=workspace)
        _finish(plan, dry_run, as_json)
        return

    async def follow(client: HubClient) -> None:
        await watch_loop(client, once, lambda plan: _finish(plan, False, as_json, compact=True))

    with contextlib.suppress(KeyboardInterrupt):
        runtime.call(ctx, follow, workspace=workspace)


async def watch_loop(
    client: HubClient,
    once: _Once,
    done: _Done,
    *,
    debounce: float = DEBOUNCE_SECONDS,
) -> None:
    """Render now, then after every burst of changes of the workspace, forever.

    The stream resumes after the seq last rendered, so a dropped connection loses nothing: the
    events it missed arrive on reconnect and cause a render. A render that fails (the hub
    unreachable for a moment) is tried again after ``RETRY_SECONDS``."""
    plan = await once(client)
    done(plan)
    rendered = plan.seq
    changed = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def pump(frames: _Frames) -> None:
        async for frame in frames:
            kind = frame.get("type")
            if kind == "reset" or (kind == "event" and int(frame.get("seq", 0)) > rendered):
                changed.set()

    async with await client.stream(after=rendered) as stream, anyio.create_task_group() as tasks:
        tasks.start_soon(pump, stream.frames())
        while True:
            await changed.wait()
            await _quiet(changed, debounce)
            try:
                plan = await once(client)
            except InfinityMatrixError as exc:
                render.note(f"# render failed ({exc.code}: {exc.detail}); retrying")
                loop.call_later(RETRY_SECONDS, changed.set)
                continue
            done(plan)
            rendered = max(rendered, plan.seq)


async def _quiet(changed: asyncio.Event, seconds: float) -> None:
    """Wait until no change came for ``seconds``."""
    while True:
        changed.clear()
        try:
            await asyncio.wait_for(changed.wait(), seconds)
        except TimeoutError:
            return


def _finish(plan: SyncPlan, dry_run: bool, as_json: bool, *, compact: bool = False) -> None:
    if not dry_run:
        try:
            apply(plan)
        except OSError as exc:
            runtime.fail("sync_files.io", f"{exc.filename or plan.root}: {exc.strerror or exc}")
    if as_json:
        body = {**plan.to_json(), "dry_run": dry_run}
        if compact:
            click.echo(json.dumps(body, ensure_ascii=False))
        else:
            render.emit_json(body)
        return
    if dry_run:
        for change in plan.changes:
            diff = change.diff()
            if diff:
                click.echo(diff, nl=False)
    for change in plan.changes:
        if change.action != "unchanged":
            reason = f"  ({change.reason})" if change.reason else ""
            verb = (
                f"would {change.action}" if dry_run and change.action != "skip" else change.action
            )
            click.echo(f"{verb:<16} {change.path}{reason}")
    counts = ", ".join(
        f"{plan.count(a)} {a}"
        for a in ("create", "update", "delete", "unchanged", "skip", "conflict")
        if plan.count(a)
    )
    where = f"workspace {plan.workspace} at seq {plan.seq}" if plan.workspace else "nothing"
    render.note(f"# {where}: {counts or 'no files'}{' (dry run)' if dry_run else ''}")


def _checked(make: _Plan) -> SyncPlan:
    try:
        return make()
    except ManifestError as exc:
        runtime.fail("sync_files.manifest", str(exc))
    except OSError as exc:
        runtime.fail("sync_files.io", f"{exc.filename or ''}: {exc.strerror or exc}")


def _targets(raw: str) -> list[str]:
    chosen = [t.strip() for t in raw.split(",") if t.strip()]
    unknown = [t for t in chosen if t not in TARGETS]
    if unknown or not chosen:
        runtime.usage(
            f"--target: unknown {', '.join(unknown) or '(none)'}; use {','.join(TARGETS)}"
        )
    return chosen


def _globs(pairs: list[str]) -> dict[str, str]:
    globs = {}
    for pair in pairs:
        section, eq, glob = pair.partition("=")
        if not eq or not section.strip() or not glob.strip():
            runtime.usage(f"--apply-to {pair!r}: give SECTION=GLOB (e.g. notes=docs/**)")
        globs[section.strip()] = glob.strip()
    return globs
