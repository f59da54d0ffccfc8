"""Routing rules: which context entries and insights a provider receives; secret-looking keys
never, whatever the rules say."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infinity_matrix.core.providers.records import RoutingRules
from infinity_matrix.core.providers.routing import admits_entry, admits_insight, is_secret_key

SECRET_KEYS = [
    "auth/token",
    "github-token",
    "ci/GITHUB_TOKEN",
    "token.txt",
    "secrets",
    "config/secret",
    "vault/client_secret",
    "db_password",
    "notes/dbPassword",
    "passwd",
    "creds/aws",
    "credentials.json",
    "api_key",
    "apiKey",
    "openai/api-key",
    "keys/private_key",
    "aws/access_key_id",
    "ssh/id_rsa",
    "id_ed25519",
    ".env",
    "app/.env.local",
    "deploy/prod.env",
    "tls/server.pem",
    "tls/server.key",
    "certs/bundle.p12",
    "home/.netrc",
    "home/.pgpass",
]
ORDINARY_KEYS = [
    "tokenizer/notes",
    "notes/tokenizer",
    "notes/token-budget",
    "decisions/max-tokens",
    "notes/keyboard-shortcuts",
    "decisions/primary-key-choice",
    "notes/key-decisions",
    "secretary/minutes",
    "notes/environment",
    "editor/active",
    "decisions/0007",
    "ssh/id_rsa.pub",
    "notes/keys.md",
    "architecture/tokens-and-limits.md",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_a_key_naming_a_secret_is_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ORDINARY_KEYS)
def test_an_ordinary_key_that_merely_resembles_one_is_not(key: str) -> None:
    assert not is_secret_key(key)


_SEGMENT = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,12}", fullmatch=True)


@given(st.lists(_SEGMENT, max_size=3), st.sampled_from(SECRET_KEYS), st.lists(_SEGMENT, max_size=2))
def test_a_secret_segment_makes_the_whole_key_secret_wherever_it_stands(
    before: list[str], secret: str, after: list[str]
) -> None:
    assert is_secret_key("/".join([*before, secret, *after]))


@given(st.sampled_from(SECRET_KEYS), st.sampled_from(["text", "json"]))
def test_no_rule_admits_a_secret_key(key: str, kind: str) -> None:
    prefix = key.split("/", 1)[0]
    for rules in (None, RoutingRules(), RoutingRules(prefixes=(prefix,), kinds=(kind,))):
        assert not admits_entry(rules, key, kind)


def test_without_rules_every_ordinary_entry_and_insight_is_admitted() -> None:
    assert admits_entry(None, "notes/db", "text")
    assert admits_entry(RoutingRules(), "notes/db", "json")
    assert admits_insight(None, "pitfall", [])
    assert admits_insight(RoutingRules(), "decision", ["db"])


def test_prefixes_keep_only_entries_under_one_of_them() -> None:
    rules = RoutingRules(prefixes=("notes/", "decisions/"))

    assert [
        k for k in ("notes/a", "decisions/1", "editor/active") if admits_entry(rules, k, "text")
    ] == [
        "notes/a",
        "decisions/1",
    ]


def test_kinds_filter_entries_and_insights_each_by_their_own_family() -> None:
    only_decisions = RoutingRules(kinds=("decision",))
    only_json = RoutingRules(kinds=("json",))

    assert admits_entry(only_decisions, "notes/a", "text")  # names no entry kind
    assert admits_insight(only_decisions, "decision", [])
    assert not admits_insight(only_decisions, "pitfall", [])
    assert not admits_entry(only_json, "notes/a", "text")
    assert admits_entry(only_json, "notes/b", "json")
    assert admits_insight(only_json, "pitfall", [])  # names no insight kind


def test_tags_keep_only_insights_carrying_one_of_them() -> None:
    rules = RoutingRules(tags=("db", "deploy"))

    assert admits_insight(rules, "fact", ["db"])
    assert not admits_insight(rules, "fact", ["ui"])
    assert not admits_insight(rules, "fact", [])
    assert admits_entry(rules, "notes/ui", "text")  # tags are for insights
