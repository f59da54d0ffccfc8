"""An expired access token is refreshed once by the client, and the new pair is saved."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.cli.harness import SECRET_KEY, Imx, ServedHub

from infinity_matrix.security.tokens import TokenIssuer

PASSWORD = "correct horse battery"


def expired_access_token(username: str) -> str:
    """A token the hub signed an hour ago for one minute: well past the verifier's leeway."""
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    issuer = TokenIssuer(
        SECRET_KEY.encode(), access_ttl=timedelta(minutes=1), clock=lambda: an_hour_ago
    )
    token, _expires_at = issuer.issue_access(username, is_admin=False)
    return token


def store_access_token(imx: Imx, token: str) -> None:
    path = imx.home / "credentials.json"
    path.write_text(json.dumps({**imx.credentials, "access_token": token}))


def test_an_expired_access_token_is_refreshed_and_the_new_pair_saved(served: ServedHub) -> None:
    imx = served.imx
    served.add_user("alice", PASSWORD)
    imx.ok("login", "-u", "alice", "--password-stdin", input=f"{PASSWORD}\n")
    spent_refresh = imx.credentials["refresh_token"]
    expired = expired_access_token("alice")
    store_access_token(imx, expired)

    assert imx.json("whoami")["name"] == "alice"
    stored = imx.credentials
    assert stored["access_token"] not in {expired, ""}
    assert stored["refresh_token"] != spent_refresh
    assert imx.json("whoami")["name"] == "alice"  # the saved pair works as it is


def test_an_expired_token_without_a_refresh_token_exits_1(served: ServedHub) -> None:
    served.add_user("alice", PASSWORD)
    env = {"IMX_TOKEN": expired_access_token("alice")}
    result = served.imx("whoami", env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: auth.token_expired: ")
