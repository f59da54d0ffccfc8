"""How ``imx`` fails when it cannot start a request: a stable code on stderr, exit 1 or 2."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.cli.harness import Imx


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_an_unreachable_hub_exits_1_with_client_unreachable(tmp_path: Path) -> None:
    imx = Imx(tmp_path / "home")
    url = closed_port_url()
    for args in (("--url", url, "ctx", "ls"), ("ctx", "ls")):
        result = imx(*args, env={"IMX_URL": url, "IMX_TOKEN": "imx_x"})
        assert result.exit_code == 1
        assert result.stderr.startswith("error: client.unreachable: ")
        assert url in result.stderr


def test_a_bad_setting_exits_2_without_echoing_its_value(tmp_path: Path) -> None:
    result = Imx(tmp_path / "home")("ctx", "ls", env={"IMX_PORT": "not-a-port-secret"})
    assert result.exit_code == 2
    assert result.stderr.startswith("error: config.invalid: ")
    assert "not-a-port-secret" not in result.output


def test_no_credential_at_all_exits_1_with_auth_missing(imx: Imx, tmp_path: Path) -> None:
    elsewhere = Imx(tmp_path / "empty-home")
    url = imx.credentials["url"]
    result = elsewhere("ctx", "ls", env={"IMX_URL": url})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: auth.missing: ")


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    assert Imx(tmp_path / "home")("nonsense").exit_code == 2
