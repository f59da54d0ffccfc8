"""``imx provider`` against a real hub: the key comes from the CLI's environment or stdin,
never from argv, and is never printed."""

from __future__ import annotations

from pathlib import Path

from tests.cli.harness import Imx, ServedHub

SECRET = "sk-cli-NEVER-PRINT-ME-0123456789"


def test_a_provider_is_added_with_a_key_from_the_environment_listed_and_shown(
    imx: Imx, served: ServedHub
) -> None:
    added = imx(
        "provider",
        "add",
        "local",
        "--kind",
        "openai-compatible",
        "--model",
        "llama3",
        "--base-url",
        "http://127.0.0.1:11434/v1",
        "--api-key-env",
        "MY_LOCAL_KEY",
        "--option",
        "api=chat",
        "--option",
        "temperature=0.2",
        "--option",
        "stream=false",
        "--prefix",
        "notes/",
        "--rpm",
        "60",
        "--tpm",
        "100000",
        "--context-window",
        "8192",
        env={"MY_LOCAL_KEY": SECRET},
    )
    assert added.exit_code == 0, added.stderr
    assert added.stdout.split()[0] == "seq"
    assert SECRET not in added.stdout + added.stderr

    imx.ok(
        "provider",
        "add",
        "gpt",
        "--kind",
        "openai",
        "--model",
        "gpt-5",
        "--fallback",
        "local",
        "--hub-key-env",
        "OPENAI_API_KEY",
    )
    listed = imx.json("provider", "ls")
    assert [(p["name"], p["has_credential"], p["api_key_env"]) for p in listed] == [
        ("gpt", False, "OPENAI_API_KEY"),
        ("local", True, None),
    ]
    local = listed[1]
    assert local["options"] == {"api": "chat", "temperature": 0.2, "stream": False}
    assert (local["routing"]["prefixes"], local["rpm"], local["tpm"], local["context_window"]) == (
        ["notes/"],
        60,
        100000,
        8192,
    )
    rows = imx.rows("provider", "ls")
    assert [row[:4] for row in rows] == [
        ["gpt", "openai", "gpt-5", "hub"],
        ["local", "openai-compatible", "llama3", "stored"],
    ]
    shown = imx.ok("provider", "show", "local")
    assert "http://127.0.0.1:11434/v1" in shown.stdout
    assert imx.json("provider", "show", "gpt")["fallbacks"] == ["local"]
    for output in (shown.stdout, imx.ok("provider", "ls").stdout, str(listed)):
        assert SECRET not in output
    server_log = (served.imx.home.parent / "server.log").read_text()
    assert SECRET not in server_log


def test_a_key_is_read_from_stdin_and_removed_with_remove_key(imx: Imx) -> None:
    imx.ok(
        "provider",
        "add",
        "claude",
        "--kind",
        "anthropic",
        "--model",
        "claude-sonnet-5",
        "--api-key-stdin",
        input=SECRET + "\n",
    )
    assert imx.json("provider", "show", "claude")["has_credential"] is True

    imx.ok("provider", "add", "claude", "--kind", "anthropic", "--model", "claude-opus-5")
    kept = imx.json("provider", "show", "claude")
    assert (kept["model"], kept["has_credential"]) == ("claude-opus-5", True)

    imx.ok("provider", "add", "claude", "--kind", "anthropic", "--model", "m", "--remove-key")
    assert imx.json("provider", "show", "claude")["has_credential"] is False


def test_an_unset_key_variable_is_a_usage_error_and_nothing_is_sent(imx: Imx) -> None:
    result = imx(
        "provider",
        "add",
        "gpt",
        "--kind",
        "openai",
        "--model",
        "gpt-5",
        "--api-key-env",
        "IMX_TEST_UNSET_VARIABLE",
    )
    assert result.exit_code == 2
    assert "error: cli.usage:" in result.stderr
    assert "IMX_TEST_UNSET_VARIABLE" in result.stderr
    assert imx.json("provider", "ls") == []


def test_two_key_sources_at_once_are_refused(imx: Imx) -> None:
    result = imx(
        "provider",
        "add",
        "gpt",
        "--kind",
        "openai",
        "--model",
        "gpt-5",
        "--api-key-env",
        "K",
        "--api-key-stdin",
        input="x\n",
        env={"K": "y"},
    )
    assert result.exit_code == 2
    assert "cli.usage" in result.stderr


def test_the_key_itself_is_not_accepted_as_an_argument(imx: Imx) -> None:
    result = imx("provider", "add", "gpt", "--kind", "openai", "--model", "m", "--api-key", SECRET)
    assert result.exit_code == 2
    assert imx.json("provider", "ls") == []


def test_a_provider_is_removed_and_errors_carry_their_code(imx: Imx, tmp_path: Path) -> None:
    imx.ok("provider", "add", "gpt", "--kind", "openai", "--model", "gpt-5")
    bad = imx("provider", "add", "x", "--kind", "telepathy", "--model", "m")
    assert bad.exit_code == 1
    assert "error: provider.invalid_kind:" in bad.stderr
    secret_option = imx(
        "provider", "add", "y", "--kind", "openai", "--model", "m", "--option", "api_key=abc"
    )
    assert "error: provider.secret_in_options:" in secret_option.stderr

    assert imx.seq("provider", "rm", "gpt") > 0
    missing = imx("provider", "show", "gpt")
    assert missing.exit_code == 1
    assert "error: provider.unknown:" in missing.stderr
    assert imx.json("provider", "ls") == []
