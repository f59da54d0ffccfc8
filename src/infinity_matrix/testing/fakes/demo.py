"""The demo provider: the three fake wire APIs on one port, each under its own prefix, for
trying the whole flow on one machine without an account. Its answers are canned (derived from
the question), not a model's: ``imx provider demo`` says so wherever it shows them.

    /openai/v1/…      OpenAI (chat completions, responses, conversations, models)
    /anthropic/v1/…   Anthropic (messages)
    /gemini/…         Gemini API and Vertex AI (generateContent, cachedContents)
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.responses import PlainTextResponse

from infinity_matrix.testing.fakes.anthropic import anthropic_app
from infinity_matrix.testing.fakes.base import ASGIApp, FakeServer, Receive, Scope, Send
from infinity_matrix.testing.fakes.gemini import gemini_app
from infinity_matrix.testing.fakes.openai import openai_app

DEMO_KEY = "demo-key-not-a-secret"


@dataclass(frozen=True, slots=True)
class DemoProvider:
    name: str
    kind: str
    model: str
    path: str  # under the demo server's URL


DEMO_PROVIDERS = (
    DemoProvider("demo-openai", "openai", "gpt-demo", "/openai/v1"),
    DemoProvider("demo-anthropic", "anthropic", "claude-fake-1", "/anthropic"),
    DemoProvider("demo-gemini", "gemini", "gemini-demo", "/gemini"),
)


def demo_server() -> FakeServer:
    """The three fakes behind one fault injector and request log."""
    return FakeServer(
        _Prefixed({"/openai": openai_app(), "/anthropic": anthropic_app(), "/gemini": gemini_app()})
    )


class _Prefixed:
    """Each request to the app of its path's prefix, the prefix taken off (the fakes route on
    the whole path, as the real APIs' hosts would)."""

    def __init__(self, apps: dict[str, ASGIApp]) -> None:
        self._apps = apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        for prefix, app in self._apps.items():
            if path.startswith(prefix + "/"):
                rest = path[len(prefix) :]
                await app({**scope, "path": rest, "raw_path": rest.encode()}, receive, send)
                return
        await PlainTextResponse("not a demo API path", status_code=404)(scope, receive, send)
