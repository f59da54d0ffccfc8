"""Users (server-side), sign-in, workspaces, members and API keys through ``imx``."""

from __future__ import annotations

import anyio
import pytest
from tests.cli.harness import Imx, ServedHub

from infinity_matrix.client import HubClient
from infinity_matrix.errors import Unauthenticated

PASSWORD = "correct horse battery"


def create_user(imx: Imx, name: str, *flags: str) -> None:
    """``imx user create``: local, with the real (slow) password hash."""
    imx.ok("user", "create", name, *flags, "--password-stdin", input=f"{PASSWORD}\n")


def login(imx: Imx, name: str) -> None:
    imx.ok("login", "--username", name, "--password-stdin", input=f"{PASSWORD}\n")


def test_user_create_then_login_stores_a_session_beside_the_api_key(imx: Imx) -> None:
    api_key = imx.credentials["api_key"]
    create_user(imx, "alice", "--admin")
    assert [(u["username"], u["is_admin"]) for u in imx.json("user", "ls")] == [("alice", True)]

    login(imx, "alice")
    stored = imx.credentials
    assert stored["api_key"] == api_key
    assert stored["username"] == "alice"
    assert stored["access_token"].count(".") == 2
    assert stored["refresh_token"]
    assert imx.json("whoami")["name"] == "alice"


def test_login_prompts_for_the_username_and_hidden_password(served: ServedHub) -> None:
    imx = served.imx
    served.add_user("alice", PASSWORD)
    result = imx.ok("login", input=f"alice\n{PASSWORD}\n")
    assert PASSWORD not in result.output
    assert imx.json("whoami")["name"] == "alice"


def test_user_create_asks_for_the_password_twice(imx: Imx) -> None:
    mismatch = imx("user", "create", "bob", input=f"{PASSWORD}\nsomething else\n\n\n")
    assert mismatch.exit_code != 0
    imx.ok("user", "create", "bob", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert [u["username"] for u in imx.json("user", "ls")] == ["bob"]


def test_a_wrong_password_exits_1_with_bad_credentials(served: ServedHub) -> None:
    imx = served.imx
    served.add_user("alice", PASSWORD)
    result = imx("login", "-u", "alice", "--password-stdin", input="not the password\n")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: auth.bad_credentials: ")
    assert "access_token" not in imx.credentials


def test_user_passwd_changes_the_password(served: ServedHub) -> None:
    imx = served.imx
    served.add_user("alice", PASSWORD)
    imx.ok("user", "passwd", "alice", "--password-stdin", input="a brand new password\n")
    assert imx("login", "-u", "alice", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 1
    imx.ok("login", "-u", "alice", "--password-stdin", input="a brand new password\n")
    missing = imx("user", "passwd", "nobody", "--password-stdin", input=f"{PASSWORD}\n")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: user.not_found: ")


def test_a_team_workspace_with_a_member_and_a_key_that_stops_working_when_revoked(
    served: ServedHub,
) -> None:
    imx = served.imx
    served.add_user("alice", PASSWORD, is_admin=True)
    served.add_user("bob", PASSWORD)
    login(imx, "alice")

    created = imx.json("workspace", "create", "webshop", "--name", "Web shop")
    assert (created["id"], created["role"]) == ("webshop", "owner")
    assert {w["id"] for w in imx.json("workspace", "ls")} == {"default", "webshop"}
    imx.ok("workspace", "use", "webshop")
    assert imx.credentials["workspace"] == "webshop"
    assert imx.json("workspace", "show")["name"] == "Web shop"

    imx.seq("member", "add", "bob", "--role", "editor")
    members = {m["username"]: m["role"] for m in imx.json("member", "ls")}
    assert members == {"alice": "owner", "bob": "editor"}

    key = imx.json("key", "create", "copilot", "--role", "editor")
    assert key["token"].startswith(f"imx_{key['id']}_")
    listed = imx.json("key", "ls")
    assert [(k["id"], k["revoked_at"]) for k in listed] == [(key["id"], None)]
    assert "token" not in listed[0]

    as_key = {"IMX_TOKEN": key["token"]}
    imx.ok("ctx", "put", "notes/from-copilot", "hello", input=None, env=as_key)
    assert imx.json("whoami", env=as_key)["workspace"] == "webshop"

    imx.seq("key", "revoke", key["id"])
    refused = imx("ctx", "ls", env=as_key)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: auth.key_revoked: ")
    assert imx.json("key", "ls")[0]["revoked_at"] is not None

    imx.seq("member", "rm", "bob")
    assert [m["username"] for m in imx.json("member", "ls")] == ["alice"]


def test_key_create_prints_the_token_once_with_a_warning(imx: Imx) -> None:
    result = imx.ok("key", "create", "claude", "--role", "viewer")
    token = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("token"))
    assert token.startswith("imx_")
    assert result.stderr.startswith("warning: ")
    assert token not in imx.ok("key", "ls").stdout


def test_a_role_above_ones_own_cannot_be_granted(imx: Imx) -> None:
    viewer = imx.json("key", "create", "reader", "--role", "viewer")["token"]
    result = imx("key", "create", "escalate", "--role", "owner", env={"IMX_TOKEN": viewer})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: auth.forbidden: ")


def test_workspace_rm_needs_yes_then_deletes(served: ServedHub) -> None:
    imx = served.imx
    served.add_user("alice", PASSWORD, is_admin=True)
    login(imx, "alice")
    imx.ok("workspace", "create", "scratch")
    refused = imx("workspace", "rm", "scratch")
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: cli.usage: ")
    imx.ok("workspace", "rm", "scratch", "--yes")
    gone = imx("workspace", "show", "scratch")
    assert gone.exit_code == 1
    assert gone.stderr.startswith("error: workspace.not_found: ")


def test_workspace_use_refuses_an_unknown_workspace(imx: Imx) -> None:
    result = imx("workspace", "use", "nowhere")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: workspace.not_found: ")
    assert imx.credentials["workspace"] == "default"


def test_logout_revokes_the_session_and_falls_back_to_the_api_key(served: ServedHub) -> None:
    imx = served.imx
    served.add_user("alice", PASSWORD)
    login(imx, "alice")
    spent = imx.credentials["refresh_token"]
    imx.ok("logout")
    stored = imx.credentials
    assert not {"access_token", "refresh_token", "username"} & set(stored)
    assert imx.json("whoami")["kind"] == "key"

    async def refresh() -> None:
        async with HubClient(served.url, refresh_token=spent) as client:
            await client.refresh()

    with pytest.raises(Unauthenticated) as refused:
        anyio.run(refresh)
    assert refused.value.code == "auth.refresh_reused"
