"""``imx mcp config``: each client's snippet in its documented shape, merged into its file safely.

The command is registered on a small Typer group here; ``imx mcp`` attaches it the same way.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from infinity_matrix.cli import mcpconfig
from infinity_matrix.cli.mcpconfig import ClientName, Scope, dumps_toml, target

IMX = "/opt/imx/bin/imx"
SECRET = "imx_live_do_not_write_me"
HUB = "http://hub.example:8765"


def group() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def mcp() -> None:
        """The stand-in for ``imx mcp``."""

    mcpconfig.register(app)
    return app


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "user"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


def run(home: Path, project: Path, *args: str, env: dict[str, str | None] | None = None) -> Result:
    """``config`` with HOME, IMX_HOME and the project in ``tmp_path``; IMX_TOKEN set to a secret."""
    base = {
        "HOME": str(home),
        "IMX_HOME": str(home / ".infinity-matrix"),
        "IMX_TOKEN": SECRET,
        "IMX_URL": None,
        "IMX_WORKSPACE": None,
    }
    argv = ["config", *args, "--command", IMX, "--project-dir", str(project)]
    return CliRunner().invoke(group(), argv, env={**base, **(env or {})})


def ok(home: Path, project: Path, *args: str, env: dict[str, str | None] | None = None) -> Result:
    result = run(home, project, *args, env=env)
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def stdio_env(home: Path) -> dict[str, str]:
    return {"IMX_HOME": str(home / ".infinity-matrix")}


BEARER = "Bearer ${IMX_TOKEN}"
# client, transport -> the servers table's key and our entry, as each client documents them.
SHAPES: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    ("claude", "stdio"): ("mcpServers", {"type": "stdio", "command": IMX, "args": ["mcp"]}),
    ("claude", "http"): (
        "mcpServers",
        {"type": "http", "url": f"{HUB}/mcp", "headers": {"Authorization": BEARER}},
    ),
    ("claude-desktop", "stdio"): ("mcpServers", {"command": IMX, "args": ["mcp"]}),
    ("vscode", "stdio"): ("servers", {"type": "stdio", "command": IMX, "args": ["mcp"]}),
    ("vscode", "http"): (
        "servers",
        {
            "type": "http",
            "url": f"{HUB}/mcp",
            "headers": {"Authorization": "Bearer ${input:imx-token}"},
        },
    ),
    ("cursor", "stdio"): ("mcpServers", {"command": IMX, "args": ["mcp"]}),
    ("cursor", "http"): (
        "mcpServers",
        {"url": f"{HUB}/mcp", "headers": {"Authorization": "Bearer ${env:IMX_TOKEN}"}},
    ),
    ("gemini", "stdio"): ("mcpServers", {"command": IMX, "args": ["mcp"]}),
    ("gemini", "http"): (
        "mcpServers",
        {"httpUrl": f"{HUB}/mcp", "headers": {"Authorization": BEARER}},
    ),
    ("codex", "stdio"): (
        "mcp_servers",
        {"command": IMX, "args": ["mcp"], "env_vars": ["IMX_TOKEN"]},
    ),
    ("codex", "http"): (
        "mcp_servers",
        {"url": f"{HUB}/mcp", "bearer_token_env_var": "IMX_TOKEN"},
    ),
}
VSCODE_INPUT = {
    "type": "promptString",
    "id": "imx-token",
    "description": "Infinity Matrix API key or access token (IMX_TOKEN)",
    "password": True,
}


def parse(client: str, text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = tomllib.loads(text) if client == "codex" else json.loads(text)
    return parsed


def expected(client: str, transport: str, home: Path) -> dict[str, Any]:
    key, entry = SHAPES[client, transport]
    if transport == "stdio":
        entry = {**entry, "env": stdio_env(home)}
    doc: dict[str, Any] = {key: {"imx": entry}}
    if (client, transport) == ("vscode", "http"):
        doc = {"inputs": [VSCODE_INPUT], **doc}
    return doc


@pytest.mark.parametrize(("client", "transport"), sorted(SHAPES))
def test_the_snippet_of_each_client_has_its_documented_shape(
    home: Path, project: Path, client: str, transport: str
) -> None:
    hub = ["--url", HUB] if transport == "http" else []  # stdio: imx finds the hub itself
    result = ok(home, project, "--client", client, "--transport", transport, *hub)

    assert parse(client, result.stdout) == expected(client, transport, home)
    assert SECRET not in result.output
    assert not list(project.iterdir()), "printing writes nothing"


@pytest.mark.parametrize(
    ("client", "path"),
    [
        ("claude", "project/.mcp.json"),
        ("vscode", "project/.vscode/mcp.json"),
        ("cursor", "project/.cursor/mcp.json"),
        ("gemini", "project/.gemini/settings.json"),
        ("codex", "user/.codex/config.toml"),
        ("claude-desktop", "user/.config/Claude/claude_desktop_config.json"),
    ],
)
def test_the_target_path_is_printed_on_stderr_and_is_where_write_puts_it(
    home: Path, project: Path, client: str, path: str
) -> None:
    where = project.parent / path
    printed = ok(home, project, "--client", client)
    assert f"# goes in {where}\n" in printed.stderr

    written = ok(home, project, "--client", client, "--write")

    assert f"# wrote {where}\n" in written.stderr
    assert parse(client, where.read_text()) == expected(client, "stdio", home)


def test_stdio_points_imx_at_the_configured_hub_and_workspace(home: Path, project: Path) -> None:
    result = ok(home, project, "--client", "claude", env={"IMX_URL": HUB, "IMX_WORKSPACE": "team"})

    entry = json.loads(result.stdout)["mcpServers"]["imx"]
    assert entry["args"] == ["--url", HUB, "--workspace", "team", "mcp"]


def test_stdio_leaves_imx_home_out_when_it_is_the_default(home: Path, project: Path) -> None:
    result = ok(home, project, "--client", "cursor", env={"IMX_HOME": None})

    assert json.loads(result.stdout)["mcpServers"]["imx"] == {"command": IMX, "args": ["mcp"]}


def test_http_sends_the_workspace_header_and_takes_the_url_from_the_credentials(
    home: Path, project: Path
) -> None:
    credentials = home / ".infinity-matrix" / "credentials.json"
    credentials.parent.mkdir(parents=True)
    credentials.write_text(json.dumps({"url": "http://10.0.0.7:9000/", "api_key": SECRET}))

    result = ok(home, project, "--client", "gemini", "--transport", "http", "-w", "team")

    assert json.loads(result.stdout)["mcpServers"]["imx"] == {
        "httpUrl": "http://10.0.0.7:9000/mcp",
        "headers": {"Authorization": BEARER, "X-Workspace": "team"},
    }
    codex = ok(home, project, "--client", "codex", "--transport", "http", "-w", "team")
    assert tomllib.loads(codex.stdout)["mcp_servers"]["imx"]["http_headers"] == {
        "X-Workspace": "team"
    }


def test_the_default_program_is_an_absolute_path(home: Path, project: Path) -> None:
    argv = ["config", "--client", "claude", "--project-dir", str(project)]
    result = CliRunner().invoke(group(), argv, env={"HOME": str(home)})

    assert result.exit_code == 0, result.output
    assert Path(json.loads(result.stdout)["mcpServers"]["imx"]["command"]).is_absolute()


def test_claude_code_also_gets_the_equivalent_claude_mcp_add_line(
    home: Path, project: Path
) -> None:
    stdio = ok(home, project, "--client", "claude", "--scope", "user")
    http = ok(home, project, "--client", "claude", "--transport", "http", "--url", HUB)

    assert (
        "# or run: claude mcp add --transport stdio --scope user "
        f"--env IMX_HOME={home}/.infinity-matrix imx -- {IMX} mcp\n"
    ) in stdio.stderr
    assert (
        "# or run: claude mcp add --transport http --scope project "
        f"--header 'Authorization: Bearer ${{IMX_TOKEN}}' imx {HUB}/mcp\n"
    ) in http.stderr


def test_write_merges_into_a_json_file_and_keeps_every_other_entry(
    home: Path, project: Path
) -> None:
    path = project / ".cursor" / "mcp.json"
    path.parent.mkdir()
    other = {"command": "npx", "args": ["-y", "other-server"], "env": {"KEY": "${env:KEY}"}}
    before = {
        "mcpServers": {"other": other, "imx": {"command": "old"}, "last": {"url": "u"}},
        "someSetting": True,
    }
    path.write_text(json.dumps(before, indent=4))

    ok(home, project, "--client", "cursor", "--write")

    after = json.loads(path.read_text())
    assert after == {
        "mcpServers": {
            "other": other,
            "imx": {"command": IMX, "args": ["mcp"], "env": stdio_env(home)},
            "last": {"url": "u"},
        },
        "someSetting": True,
    }
    assert list(after["mcpServers"]) == ["other", "imx", "last"], "a replaced entry keeps its place"


def test_write_keeps_other_vscode_inputs_and_replaces_its_own(home: Path, project: Path) -> None:
    path = project / ".vscode" / "mcp.json"
    path.parent.mkdir()
    theirs = {"type": "promptString", "id": "github-pat", "password": True}
    stale = {"type": "promptString", "id": "imx-token", "description": "old"}
    path.write_text(json.dumps({"inputs": [stale, theirs], "servers": {"gh": {"url": "x"}}}))

    ok(home, project, "--client", "vscode", "--transport", "http", "--url", HUB, "--write")

    after = json.loads(path.read_text())
    assert after["inputs"] == [theirs, VSCODE_INPUT]
    assert after["servers"] == {"gh": {"url": "x"}, "imx": SHAPES["vscode", "http"][1]}


CODEX_BEFORE = """\
# My Codex settings
model = "gpt-5-codex"  # the default model

[mcp_servers.context7]
command = "npx"
args = ["-y", "@upstash/context7-mcp"]

[mcp_servers.imx]
command = "/old/imx"
args = ["mcp"]

[mcp_servers.imx.env]
IMX_HOME = "/old/home"

# Trusted projects
[projects."/home/me/app"]
trust_level = "trusted"
"""


def test_write_replaces_the_codex_table_in_place_and_keeps_comments(
    home: Path, project: Path
) -> None:
    path = home / ".codex" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(CODEX_BEFORE)

    result = ok(home, project, "--client", "codex", "--transport", "http", "--url", HUB, "--write")

    text = path.read_text()
    assert text.startswith(CODEX_BEFORE.split("[mcp_servers.imx]")[0])
    assert "# Trusted projects\n" in text
    assert "/old/" not in text
    assert tomllib.loads(text) == {
        "model": "gpt-5-codex",
        "mcp_servers": {
            "context7": {"command": "npx", "args": ["-y", "@upstash/context7-mcp"]},
            "imx": SHAPES["codex", "http"][1],
        },
        "projects": {"/home/me/app": {"trust_level": "trusted"}},
    }
    assert "not kept" not in result.stderr


def test_write_rewrites_a_codex_file_it_cannot_edit_in_place_and_says_so(
    home: Path, project: Path
) -> None:
    path = home / ".codex" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('# inline\nmcp_servers = { other = { url = "http://x" } }\n')

    result = ok(home, project, "--client", "codex", "--write")

    assert tomllib.loads(path.read_text()) == {
        "mcp_servers": {
            "other": {"url": "http://x"},
            "imx": {**SHAPES["codex", "stdio"][1], "env": stdio_env(home)},
        }
    }
    assert f"# note: {path} was rewritten whole; its comments were not kept\n" in result.stderr


@pytest.mark.parametrize(("client", "transport"), sorted(SHAPES))
def test_no_project_file_ever_holds_the_token(
    home: Path, project: Path, client: str, transport: str
) -> None:
    credentials = home / ".infinity-matrix" / "credentials.json"
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text(json.dumps({"api_key": SECRET, "access_token": SECRET}))
    scope = "user" if client == "claude-desktop" else "project"

    ok(home, project, "--client", client, "--transport", transport, "--scope", scope, "--write")

    root = project if scope == "project" else home
    files = [p for p in root.rglob("*") if p.is_file() and p != credentials]
    assert len(files) == 1
    assert SECRET not in files[0].read_text()


@pytest.mark.parametrize(
    ("client", "relative", "content"),
    [
        ("vscode", ".vscode/mcp.json", '{\n  // my servers\n  "servers": {},\n}\n'),
        ("claude", ".mcp.json", "{not json"),
        ("cursor", ".cursor/mcp.json", '["a list"]'),
        ("gemini", ".gemini/settings.json", '{"mcpServers": ["not", "an", "object"]}'),
        ("codex", ".codex/config.toml", "[mcp_servers\nbroken = "),
        ("codex", ".codex/config.toml", 'mcp_servers = "not a table"\n'),
    ],
)
def test_a_file_that_cannot_be_merged_into_is_refused_and_left_as_it_was(
    home: Path, project: Path, client: str, relative: str, content: str
) -> None:
    path = project / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)

    result = run(home, project, "--client", client, "--scope", "project", "--write")

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: mcp_config.unusable: {path} is left as it was: ")
    assert path.read_text() == content


def test_claude_desktop_takes_only_stdio_and_only_the_user_file(home: Path, project: Path) -> None:
    http = run(home, project, "--client", "claude-desktop", "--transport", "http")
    in_project = run(home, project, "--client", "claude-desktop", "--scope", "project")

    for result in (http, in_project):
        assert result.exit_code == 2
        assert result.stderr.startswith("error: cli.usage: ")
        assert result.stdout == ""


def test_a_server_name_a_client_cannot_hold_is_a_usage_error(home: Path, project: Path) -> None:
    result = run(home, project, "--client", "codex", "--name", "imx prod")

    assert result.exit_code == 2
    assert result.stderr.startswith("error: cli.usage: ")


def test_write_follows_a_symlinked_config_file(home: Path, project: Path) -> None:
    dotfiles = home / "dotfiles" / "gemini.json"
    dotfiles.parent.mkdir(parents=True)
    dotfiles.write_text('{"theme": "dark"}')
    link = home / ".gemini" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(dotfiles)

    ok(home, project, "--client", "gemini", "--scope", "user", "--write")

    assert link.is_symlink()
    assert json.loads(dotfiles.read_text())["theme"] == "dark"
    assert "imx" in json.loads(dotfiles.read_text())["mcpServers"]


@pytest.mark.parametrize(
    ("client", "platform", "path"),
    [
        (
            "claude-desktop",
            "darwin",
            "Library/Application Support/Claude/claude_desktop_config.json",
        ),
        ("claude-desktop", "win32", "AppData/Roaming/Claude/claude_desktop_config.json"),
        ("claude-desktop", "linux", ".config/Claude/claude_desktop_config.json"),
        ("vscode", "darwin", "Library/Application Support/Code/User/mcp.json"),
        ("vscode", "win32", "AppData/Roaming/Code/User/mcp.json"),
        ("vscode", "linux", ".config/Code/User/mcp.json"),
        ("claude", "linux", ".claude.json"),
        ("cursor", "darwin", ".cursor/mcp.json"),
        ("gemini", "win32", ".gemini/settings.json"),
        ("codex", "linux", ".codex/config.toml"),
    ],
)
def test_user_files_are_where_each_client_reads_them_on_each_platform(
    client: str, platform: str, path: str
) -> None:
    home = Path("/home/me")

    assert target(ClientName(client), Scope.USER, Path("/p"), home, platform) == home / path


def test_the_toml_writer_round_trips_what_a_config_file_holds() -> None:
    data = {
        "model": "o3",
        "approval": 'say "yes"\tor\x7fno',
        "limits": {"tokens": 10, "ratio": 0.5, "on": True, "off": False},
        "mcp_servers": {
            "a b": {"args": ["x", "y"], "env": {}},
            "c": {"nested": [{"inline": 1}, {"inline": 2}]},
        },
        "profiles": [{"name": "one", "extra": {"k": "v"}}, {"name": "two"}],
        "empty": {},
    }

    assert tomllib.loads(dumps_toml(data)) == data


@pytest.mark.parametrize("client", ["codex", "vscode"])
def test_writing_twice_leaves_the_file_as_the_first_write_did(
    home: Path, project: Path, client: str
) -> None:
    args = ("--client", client, "--transport", "http", "--url", HUB, "--scope", "project")
    ok(home, project, *args, "--write")
    (written,) = [p for p in project.rglob("*") if p.is_file()]
    first = written.read_text()

    ok(home, project, *args, "--write")

    assert written.read_text() == first
