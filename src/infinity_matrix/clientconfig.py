"""How each MCP client lists its servers, and merging our server's entry into its file.

Plain data and functions with no command-line or hub dependencies: ``imx mcp config`` prints and
writes these entries (``infinity_matrix.cli.mcpconfig``), and the instruction files
(``infinity_matrix.providers.instructions``) merge them into ``.vscode/mcp.json`` and
``.mcp.json``. Each client's file and shape were checked against its documentation (late 2026);
``docs/mcp-clients.md`` shows them all. No entry ever holds a token: an HTTP entry names the
``IMX_TOKEN`` variable (or, in VS Code, a password input).
"""

from __future__ import annotations

import enum
import json
import os
import re
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TOKEN_VARIABLE = "IMX_TOKEN"
VSCODE_INPUT = "imx-token"
# A bare key in TOML, and what VS Code's mcp.json schema allows for a server name.
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


class ClientName(enum.StrEnum):
    CLAUDE = "claude"
    CLAUDE_DESKTOP = "claude-desktop"
    VSCODE = "vscode"
    CURSOR = "cursor"
    GEMINI = "gemini"
    CODEX = "codex"


class Transport(enum.StrEnum):
    STDIO = "stdio"
    HTTP = "http"


class Scope(enum.StrEnum):
    PROJECT = "project"
    USER = "user"


TITLES = {
    ClientName.CLAUDE: "Claude Code",
    ClientName.CLAUDE_DESKTOP: "Claude Desktop",
    ClientName.VSCODE: "VS Code",
    ClientName.CURSOR: "Cursor",
    ClientName.GEMINI: "Gemini CLI",
    ClientName.CODEX: "Codex",
}
# Where each client lists its servers: the key of the servers table in its file.
SERVERS_KEY = {
    ClientName.CLAUDE: "mcpServers",
    ClientName.CLAUDE_DESKTOP: "mcpServers",
    ClientName.VSCODE: "servers",
    ClientName.CURSOR: "mcpServers",
    ClientName.GEMINI: "mcpServers",
    ClientName.CODEX: "mcp_servers",
}
PROJECT_FILES = {
    ClientName.CLAUDE: ".mcp.json",
    ClientName.VSCODE: ".vscode/mcp.json",
    ClientName.CURSOR: ".cursor/mcp.json",
    ClientName.GEMINI: ".gemini/settings.json",
    ClientName.CODEX: ".codex/config.toml",
}
# In the home directory; VS Code's and Claude Desktop's live in the OS's app-config folder.
USER_FILES = {
    ClientName.CLAUDE: ".claude.json",
    ClientName.CURSOR: ".cursor/mcp.json",
    ClientName.GEMINI: ".gemini/settings.json",
    ClientName.CODEX: ".codex/config.toml",
}
USER_BY_DEFAULT = frozenset({ClientName.CLAUDE_DESKTOP, ClientName.CODEX})


class Unusable(Exception):
    """The client's file cannot be merged into; the message says why (exit status 2)."""


@dataclass(frozen=True, slots=True)
class Server:
    """What every client's entry says, in its own words: how to start or reach the hub."""

    name: str
    transport: Transport
    argv: list[str] = field(default_factory=list)  # stdio: the program and its arguments
    env: dict[str, str] = field(default_factory=dict)  # stdio: variables (never a secret)
    url: str = ""  # http: the hub's /mcp endpoint
    workspace: str | None = None  # http: sent as X-Workspace


def entry(client: ClientName, server: Server) -> dict[str, Any]:
    """The client's entry for ``server`` (the value under its name in the servers table)."""
    if server.transport is Transport.STDIO:
        return _stdio_entry(client, server)
    if client is ClientName.CLAUDE_DESKTOP:
        raise ValueError("Claude Desktop reads only stdio servers from its file")
    if client is ClientName.CODEX:
        found: dict[str, Any] = {"url": server.url, "bearer_token_env_var": TOKEN_VARIABLE}
        if server.workspace:
            found["http_headers"] = {"X-Workspace": server.workspace}
        return found
    token = {
        ClientName.VSCODE: f"${{input:{VSCODE_INPUT}}}",
        ClientName.CURSOR: f"${{env:{TOKEN_VARIABLE}}}",
    }.get(client, f"${{{TOKEN_VARIABLE}}}")
    headers = {"Authorization": f"Bearer {token}"}
    if server.workspace:
        headers["X-Workspace"] = server.workspace
    if client is ClientName.GEMINI:
        return {"httpUrl": server.url, "headers": headers}
    if client is ClientName.CURSOR:
        return {"url": server.url, "headers": headers}
    return {"type": "http", "url": server.url, "headers": headers}


def _stdio_entry(client: ClientName, server: Server) -> dict[str, Any]:
    typed = client in (ClientName.CLAUDE, ClientName.VSCODE)
    found: dict[str, Any] = {"type": "stdio"} if typed else {}
    found |= {"command": server.argv[0], "args": server.argv[1:]}
    if server.env:
        found["env"] = dict(server.env)
    if client is ClientName.CODEX:
        # Codex hands a server only a few variables (HOME, PATH, …): forward the token if set.
        found["env_vars"] = [TOKEN_VARIABLE]
    return found


def document(client: ClientName, server: Server) -> dict[str, Any]:
    """The whole snippet: the servers table with our entry, and VS Code's input for the token."""
    doc: dict[str, Any] = {SERVERS_KEY[client]: {server.name: entry(client, server)}}
    if client is ClientName.VSCODE and server.transport is Transport.HTTP:
        doc = {"inputs": [token_input()], **doc}
    return doc


def token_input() -> dict[str, Any]:
    return {
        "type": "promptString",
        "id": VSCODE_INPUT,
        "description": f"Infinity Matrix API key or access token ({TOKEN_VARIABLE})",
        "password": True,
    }


def target(
    client: ClientName, scope: Scope, project: Path, home: Path, platform: str = sys.platform
) -> Path:
    """The file the client reads at ``scope`` (``platform`` as in ``sys.platform``)."""
    if client is ClientName.CLAUDE_DESKTOP:
        return _app_config(home, platform) / "Claude" / "claude_desktop_config.json"
    if scope is Scope.PROJECT:
        return project / PROJECT_FILES[client]
    if client is ClientName.VSCODE:
        return _app_config(home, platform) / "Code" / "User" / "mcp.json"
    return home / USER_FILES[client]


def _app_config(home: Path, platform: str) -> Path:
    # The documented defaults; a moved APPDATA or XDG_CONFIG_HOME is shown in the printed path.
    if platform == "darwin":
        return home / "Library" / "Application Support"
    if platform == "win32":
        return home / "AppData" / "Roaming"
    return home / ".config"


# Merging into an existing file ------------------------------------------------------------------


def merge_json(text: str, client: ClientName, server: Server) -> str:
    """``text`` with our entry (and VS Code's token input) put in; every other key is kept.

    Raises ``Unusable`` when the text is not a JSON object, or holds a servers table or an
    inputs list of the wrong type: a file we cannot read is never overwritten.
    """
    try:
        existing = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise Unusable(
            f"not valid JSON ({exc}); comments and trailing commas cannot be kept"
        ) from exc
    if not isinstance(existing, dict):
        raise Unusable("its top level is not a JSON object")
    key = SERVERS_KEY[client]
    servers = existing.get(key, {})
    if not isinstance(servers, dict):
        raise Unusable(f"its {key!r} is not an object")
    # Assigning to a present key keeps its place: a replaced entry stays where it was.
    merged = {**existing, key: {**servers, server.name: entry(client, server)}}
    if client is ClientName.VSCODE and server.transport is Transport.HTTP:
        inputs = existing.get("inputs", [])
        if not isinstance(inputs, list):
            raise Unusable("its 'inputs' is not a list")
        others = [i for i in inputs if not (isinstance(i, dict) and i.get("id") == VSCODE_INPUT)]
        merged["inputs"] = [*others, token_input()]
    return dumps_json(merged)


def dumps_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def merge_toml(text: str, server: Server) -> tuple[str, bool]:
    """``text`` with ``[mcp_servers.<name>]`` replaced by ours; and whether comments were kept.

    The old table's lines are cut out and ours appended, so the rest of the file stays as it
    was, comments included. When that cannot give the intended document (the server written
    inline, say), the whole file is written anew without its comments. Raises ``Unusable`` when
    the text is not TOML or its ``mcp_servers`` is not a table.
    """
    try:
        existing = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Unusable(f"not valid TOML ({exc})") from exc
    servers = existing.get(SERVERS_KEY[ClientName.CODEX], {})
    if not isinstance(servers, dict):
        raise Unusable("its 'mcp_servers' is not a table")
    ours = {server.name: entry(ClientName.CODEX, server)}
    wanted = {**existing, SERVERS_KEY[ClientName.CODEX]: {**servers, **ours}}
    edited = _cut_tables(text, server.name).rstrip()
    edited = f"{edited}\n\n{toml_block(server)}" if edited else toml_block(server)
    if _loads_or_none(edited) == wanted:
        return edited, True
    rewritten = dumps_toml(wanted)
    if _loads_or_none(rewritten) != wanted:
        raise Unusable("imx cannot write its values back faithfully")
    return rewritten, False


def toml_block(server: Server) -> str:
    """Our server's tables, as they are printed and appended."""
    return dumps_toml(
        {SERVERS_KEY[ClientName.CODEX]: {server.name: entry(ClientName.CODEX, server)}}
    )


_HEADER = re.compile(r"\s*\[")
_COMMENT = re.compile(r"\s*(#|$)")


def _cut_tables(text: str, name: str) -> str:
    """``text`` without the lines of ``[mcp_servers.<name>]`` and its sub-tables.

    Comments and blank lines at the end of a cut table stay: they belong to the table after it.
    """
    ours = re.compile(rf"""\s*\[\s*mcp_servers\s*\.\s*(?:{name}|"{name}"|'{name}')\s*[.\]]""")
    kept: list[str] = []
    trailing: list[str] = []  # comments and blank lines seen while cutting
    cutting = False
    for line in text.splitlines(keepends=True):
        if _HEADER.match(line):
            if cutting and not ours.match(line):
                while trailing and kept and not kept[-1].strip() and not trailing[0].strip():
                    trailing.pop(0)  # one blank line where the table was, not two
                kept += trailing
            cutting, trailing = bool(ours.match(line)), []
        if not cutting:
            kept.append(line)
        elif _COMMENT.match(line):
            trailing.append(line)
        else:
            trailing = []
    return "".join(kept)


def _loads_or_none(text: str) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def dumps_toml(data: dict[str, Any]) -> str:
    """A minimal TOML writer for what a config file holds (tomllib only reads)."""
    lines: list[str] = []
    _dump_table(lines, [], data)
    return "\n".join(lines).strip() + "\n"


def _dump_table(
    lines: list[str], path: list[str], table: dict[str, Any], *, header: bool = True
) -> None:
    plain = {k: v for k, v in table.items() if not isinstance(v, dict) and not _is_tables(v)}
    if header and path and (plain or not table):
        lines += ["", f"[{_dotted(path)}]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in plain.items()]
    for k, v in table.items():
        if isinstance(v, dict):
            _dump_table(lines, [*path, k], v)
        elif _is_tables(v):
            for item in v:
                lines += ["", f"[[{_dotted([*path, k])}]]"]
                _dump_table(lines, [*path, k], item, header=False)


def _is_tables(value: Any) -> bool:
    """An array of tables (``[[name]]``), as opposed to an array of values."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _dotted(path: list[str]) -> str:
    return ".".join(_key(k) for k in path)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _string(key)


def _string(text: str) -> str:
    # JSON's escapes are TOML's, but for DEL, which TOML wants escaped too.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(repr(value), repr(value))
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    return str(value.isoformat())  # datetime, date and time


def write_file(path: Path, text: str) -> None:
    """Write at once (a reader never sees half a file), keeping an existing file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
