"""The ``imx://`` resource URIs the MCP face serves, and which of them an event changes."""

from __future__ import annotations

from infinity_matrix.core.protocol.events import Event

SCHEME = "imx://"
CONTEXT_TEMPLATE = SCHEME + "{ws}/context/{+key}"
GRAPH_TEMPLATE = SCHEME + "{ws}/graph"
BRIEFING_TEMPLATE = SCHEME + "{ws}/briefing"
_GRAPH_SUBJECTS = ("entity/", "relation/", "graph/")


def context_uri(workspace: str, key: str) -> str:
    return f"{SCHEME}{workspace}/context/{key}"


def graph_uri(workspace: str) -> str:
    return f"{SCHEME}{workspace}/graph"


def briefing_uri(workspace: str) -> str:
    return f"{SCHEME}{workspace}/briefing"


def workspace_of(uri: str) -> str | None:
    """The workspace an ``imx://`` URI belongs to, or None for a foreign URI."""
    if not uri.startswith(SCHEME):
        return None
    workspace = uri[len(SCHEME) :].split("/", 1)[0]
    return workspace or None


def changed_by(event: Event) -> list[str]:
    """The resources whose content ``event`` changes."""
    ws = event.workspace
    if event.subject.startswith("context/"):
        key = event.subject.removeprefix("context/")
        return [context_uri(ws, key), briefing_uri(ws)]
    if event.subject.startswith(_GRAPH_SUBJECTS):
        return [graph_uri(ws)]
    return []
