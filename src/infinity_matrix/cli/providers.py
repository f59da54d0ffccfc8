"""``imx provider``: the AI providers of a workspace — add or replace, list, show, remove.

A provider's key never travels in argv (other users of the machine can read it there):
``--api-key-env VAR`` reads it from this shell's variable VAR, ``--api-key-stdin`` from stdin;
either way the hub stores it encrypted and never shows it again. ``--hub-key-env VAR`` stores
no key at all: the hub reads its own variable VAR when it calls the provider.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import typer

from infinity_matrix.cli import render, runtime
from infinity_matrix.cli.runtime import JsonFlag, WorkspaceOption

app = typer.Typer(
    help="AI providers: OpenAI, Gemini, Vertex AI, Anthropic, local servers, Copilot.",
    no_args_is_help=True,
)

KINDS = "openai, openai-compatible, gemini, vertex, anthropic or copilot"


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The provider's name in this workspace.")],
    kind: Annotated[str, typer.Option(help=KINDS + ".")],
    model: Annotated[str, typer.Option(help="The model to call, e.g. gpt-5.")],
    base_url: Annotated[
        str | None, typer.Option(help="The API's URL (required for openai-compatible).")
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            metavar="VAR", help="Send the key held in this shell's variable VAR (stored encrypted)."
        ),
    ] = None,
    api_key_stdin: Annotated[
        bool, typer.Option(help="Send the key read from stdin (stored encrypted).")
    ] = False,
    hub_key_env: Annotated[
        str | None,
        typer.Option(metavar="VAR", help="Store no key: the hub reads its own variable VAR."),
    ] = None,
    remove_key: Annotated[bool, typer.Option(help="Remove the key stored before.")] = False,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", metavar="K=V", help="A kind-specific option (repeatable)."),
    ] = None,
    fallback: Annotated[
        list[str] | None, typer.Option(metavar="NAME", help="Try this provider next (repeatable).")
    ] = None,
    prefix: Annotated[
        list[str] | None,
        typer.Option(metavar="P", help="Send only context keys under P (repeatable)."),
    ] = None,
    route_kind: Annotated[
        list[str] | None,
        typer.Option(metavar="K", help="Send only entries/insights of kind K (repeatable)."),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(metavar="T", help="Send only insights tagged T (repeatable)."),
    ] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests per minute allowed.")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute allowed.")] = None,
    context_window: Annotated[int | None, typer.Option(help="The model's window, tokens.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds one call may take.")] = 60.0,
    max_retries: Annotated[int, typer.Option(help="Retries of a failed call.")] = 3,
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Add a provider or replace its config; a stored key is kept unless replaced or removed."""
    key = _key(api_key_env, api_key_stdin, remove_key)
    spec: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "model": model,
        "base_url": base_url,
        "options": dict(_option(o) for o in option or ()),
        "routing": {"prefixes": prefix or [], "kinds": route_kind or [], "tags": tag or []},
        "fallbacks": fallback or [],
        "context_window": context_window,
        "rpm": rpm,
        "tpm": tpm,
        "timeout_seconds": timeout,
        "max_retries": max_retries,
        "api_key_env": hub_key_env,
    }
    answer = runtime.call(ctx, lambda c: c.put_provider(spec, key), workspace=workspace)
    render.receipt(answer, as_json)
    if key:
        render.note("the key is stored encrypted; it is never shown again.")


@app.command("ls")
def ls(ctx: typer.Context, as_json: JsonFlag = False, workspace: WorkspaceOption = None) -> None:
    """The workspace's providers (never their keys)."""
    items = runtime.call(ctx, lambda c: c.providers(), workspace=workspace)
    if as_json:
        render.emit_json(items)
        return
    rows = [
        (p["name"], p["kind"], p["model"], _key_source(p), ",".join(p["fallbacks"]), p["seq"])
        for p in items
    ]
    render.table(("name", "kind", "model", "key", "fallbacks", "seq"), rows)


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """One provider's config (never its key)."""
    config = runtime.call(ctx, lambda c: c.get_provider(name), workspace=workspace)
    if as_json:
        render.emit_json(config)
        return
    routing = config["routing"]
    render.fields(
        {
            "name": config["name"],
            "kind": config["kind"],
            "model": config["model"],
            "base url": config["base_url"] or "",
            "key": _key_source(config),
            "options": json.dumps(config["options"], sort_keys=True),
            "prefixes": ", ".join(routing["prefixes"]) or "(all)",
            "kinds": ", ".join(routing["kinds"]) or "(all)",
            "tags": ", ".join(routing["tags"]) or "(all)",
            "fallbacks": ", ".join(config["fallbacks"]),
            "context window": config["context_window"] or "",
            "rpm": config["rpm"] or "",
            "tpm": config["tpm"] or "",
            "timeout": f"{config['timeout_seconds']:g}s",
            "max retries": config["max_retries"],
            "seq": config["seq"],
        }
    )


@app.command("rm")
def rm(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    as_json: JsonFlag = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Remove a provider and its stored key."""
    answer = runtime.call(ctx, lambda c: c.remove_provider(name), workspace=workspace)
    render.receipt(answer, as_json)


# `imx provider test` and `imx provider status` (calling providers, their health and what each
# has seen) belong below: they use the same client and render helpers.


def _key(env_var: str | None, from_stdin: bool, remove: bool) -> str | None:
    """The key to send: None keeps the stored one, "" removes it."""
    if sum((env_var is not None, from_stdin, remove)) > 1:
        runtime.usage("give at most one of --api-key-env, --api-key-stdin and --remove-key")
    if remove:
        return ""
    if from_stdin:
        key = sys.stdin.read().strip()
        if not key:
            runtime.usage("--api-key-stdin read no key from stdin")
        return key
    if env_var is not None:
        # The CLI's own environment, on purpose: the key leaves this shell only to the hub.
        key = os.environ.get(env_var, "").strip()
        if not key:
            runtime.usage(f"--api-key-env {env_var}: the variable {env_var} is not set or empty")
        return key
    return None


def _option(text: str) -> tuple[str, Any]:
    """``K=V``; V is read as JSON when it is a number, boolean or null, else as text."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        runtime.usage(f"--option takes K=V, not {text!r}")
    try:
        parsed = json.loads(value)
    except ValueError:
        return name, value
    return name, parsed if parsed is None or isinstance(parsed, bool | int | float) else value


def _key_source(config: dict[str, Any]) -> str:
    if config["has_credential"]:
        return "stored"
    if config["api_key_env"]:
        return f"hub env {config['api_key_env']}"
    return "none"
