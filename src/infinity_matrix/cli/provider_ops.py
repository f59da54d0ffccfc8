"""``imx provider test|status|sync|demo``: call the configured providers, see their health and
what each has seen, push the context now, and try everything offline with the demo provider."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, WorkspaceOption
from infinity_matrix.client.http import HubClient

DEMO_PORT = 8766


def check_provider(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The provider to test.")],
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """One short call to provider NAME (a push of the context for Copilot); exits 1 if it
    failed, with the failure's code."""
    answer = runtime.call(ctx, lambda c: c.test_provider(name), workspace=workspace)
    if as_json:
        render.emit_json(answer)
    elif answer.get("ok"):
        said = str(answer.get("answer", "")).strip().replace("\n", " ")[:80]
        render.note(
            f"{name}: ok in {answer.get('latency_ms')} ms ({answer.get('model')})"
            + (f': "{said}"' if said else "")
        )
    else:
        error = answer.get("error") or {}
        render.note(f"{name}: failed: {error.get('code')}: {error.get('detail', '')}")
    if not answer.get("ok"):
        raise typer.Exit(runtime.EXIT_FAILURE)


def status(
    ctx: typer.Context,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Health of every provider you can see: breaker state, cooldown, reason, remaining
    limits, and the version of the context each has seen."""
    items = runtime.call(ctx, lambda c: c.providers_status(workspace=workspace))
    if as_json:
        render.emit_json(items)
        return
    if not items:
        render.note("no providers configured (imx provider add …)")
        return
    render.table(
        ["workspace", "provider", "kind", "model", "breaker", "until", "reason", "seen", "push"],
        [_status_row(item) for item in items],
    )


def sync(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="Providers to push to (default: all).")
    ] = None,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Push the workspace's context to its providers now, even if unchanged."""
    answer = runtime.call(ctx, lambda c: c.sync_providers(names or None), workspace=workspace)
    if as_json:
        render.emit_json(answer)
        return
    render.table(
        ["provider", "status", "version", "object", "error"],
        [
            (
                o["provider"],
                o["status"],
                o["version"],
                o.get("object_id") or "",
                o.get("error") or "",
            )
            for o in answer.get("items", [])
        ],
    )


def demo(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port of the demo server (127.0.0.1).")] = DEMO_PORT,
    configure: Annotated[
        bool,
        typer.Option(help="Add the demo providers (demo-openai, demo-anthropic, demo-gemini)."),
    ] = True,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the DEMO provider until Ctrl-C: local fakes of the OpenAI, Anthropic and Gemini
    APIs whose answers are canned, not a model's — to try the whole flow with no account."""
    from infinity_matrix.testing.fakes.demo import DEMO_KEY, DEMO_PROVIDERS, demo_server

    async def serve() -> None:
        server = demo_server()
        async with server.serving(port) as url:
            render.note(f"DEMO provider (canned answers, not a model) serving at {url}")
            if configure:
                async with HubClient.from_settings(
                    runtime.settings(ctx, workspace=workspace)
                ) as client:
                    for p in DEMO_PROVIDERS:
                        spec: dict[str, Any] = {
                            "name": p.name,
                            "kind": p.kind,
                            "model": p.model,
                            "base_url": url + p.path,
                            "options": {"demo": True},
                        }
                        await client.put_provider(spec, api_key=DEMO_KEY)
                        render.note(f"configured {p.name} ({p.kind}) → {url}{p.path}")
            render.note('try: imx ask --provider demo-openai "How do we deploy?"')
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(serve())


def _status_row(item: dict[str, Any]) -> tuple[object, ...]:
    health = item.get("health") or {}
    breaker = health.get("breaker") or health
    push = item.get("last_push") or {}
    seen = push.get("version") or ""
    push_state = push.get("status") or "never"
    if push.get("error"):
        push_state += f" ({push['error'].get('code')})"
    return (
        item.get("workspace"),
        item.get("name"),
        item.get("kind"),
        item.get("model"),
        breaker.get("state", "?"),
        render.when(breaker.get("cooldown_until")),
        breaker.get("reason") or "",
        seen,
        push_state,
    )
