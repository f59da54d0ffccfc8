"""Which context entries and insights a provider receives (issue 6): its ``RoutingRules``, and
the one rule above them all, that keys which look like secrets are never sent anywhere.

A key is looked at segment by segment (``auth/github-token``: ``auth``, ``github-token``), each
segment split into words on ``-``, ``_``, ``.``, spaces and camelCase. It looks like a secret
when a segment is a well-known secret file (``.env``, ``id_rsa``, ``.netrc``, ``*.pem``,
``*.key``, …) or its words name one: ``secret``, ``password``, ``credential`` anywhere;
``token`` as the last word (``auth/token``, ``github-token``, not ``tokenizer`` or
``token-budget``); ``key`` after ``api``, ``private``, ``secret``, ``access``, … (``api_key``,
``privateKey``). The test is deliberately eager: a note wrongly held back costs an assistant a
little context, a secret wrongly sent cannot be taken back.

Kinds in the rules name entry kinds (``text``, ``json``) and insight kinds (``decision``, …)
together; each applies to its own family only, and a family none of whose kinds is named is not
filtered by kind (``kinds=("decision",)`` keeps every entry and only decision insights).
Prefixes filter entries (insights have no key); tags filter insights.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable

from infinity_matrix.core.providers.records import RoutingRules

__all__ = ["ENTRY_KINDS", "admits_entry", "admits_insight", "is_secret_key"]

ENTRY_KINDS = frozenset({"text", "json"})

# Words that make any segment a secret wherever they stand in it.
_SECRET_WORDS = frozenset(
    {
        "secret",
        "secrets",
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "credential",
        "credentials",
        "creds",
        "apikey",
        "apikeys",
        "privatekey",
        "secretkey",
        "accesskey",
        "htpasswd",
        "keystore",
        "keychain",
    }
)
# ``key`` or ``keys`` right after one of these: ``api_key``, ``private-key``, ``ssh_keys``.
_KEY_QUALIFIERS = frozenset(
    {"api", "private", "secret", "access", "signing", "encryption", "ssh", "master", "gpg", "pgp"}
)
# ``token`` qualifies when it ends the segment: ``token``, ``auth_token``, ``github-token``.
_TOKEN_WORDS = frozenset({"token"})
# Whole segments (lowercased) that are secret files by convention.
_SECRET_FILES = frozenset(
    {
        ".env",
        ".netrc",
        ".pgpass",
        ".npmrc",
        ".pypirc",
        ".git-credentials",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "tokens",
    }
)
_SECRET_EXTENSIONS = frozenset(
    {"pem", "key", "p12", "pfx", "jks", "keystore", "ppk", "kdbx", "gpg"}
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[-_. ]+")


def is_secret_key(key: str) -> bool:
    """Whether ``key`` looks like it names a secret (see the module's docstring)."""
    return any(_secret_segment(segment) for segment in key.split("/") if segment)


def admits_key(rules: RoutingRules | None, key: str) -> bool:
    """Whether a provider with ``rules`` receives the context entry ``key``, whatever its kind
    (a deleted entry's, say): never a secret-looking key, and one of the prefixes if any."""
    if is_secret_key(key):
        return False
    return rules is None or not rules.prefixes or any(key.startswith(p) for p in rules.prefixes)


def admits_entry(rules: RoutingRules | None, key: str, kind: str) -> bool:
    """Whether a provider with ``rules`` receives the context entry ``key`` of ``kind``
    (``None``: no rules, everything but secrets)."""
    if not admits_key(rules, key):
        return False
    return rules is None or _kind_admitted(rules.kinds, kind, lambda k: k in ENTRY_KINDS)


def admits_insight(rules: RoutingRules | None, kind: str, tags: Iterable[str]) -> bool:
    """Whether a provider with ``rules`` receives an insight of ``kind`` carrying ``tags``."""
    if rules is None:
        return True
    if rules.tags and not set(rules.tags) & set(tags):
        return False
    return _kind_admitted(rules.kinds, kind, lambda k: k not in ENTRY_KINDS)


def _kind_admitted(kinds: tuple[str, ...], kind: str, same_family: Callable[[str], bool]) -> bool:
    family = [k for k in kinds if same_family(k)]
    return not family or kind in family


def _secret_segment(segment: str) -> bool:
    lowered = segment.lower()
    if lowered.endswith(".pub"):  # the public half of a key pair is meant to be shared
        return False
    if lowered in _SECRET_FILES or lowered.startswith(".env.") or lowered.endswith(".env"):
        return True
    stem, dot, extension = lowered.rpartition(".")
    if dot and stem and extension in _SECRET_EXTENSIONS:
        return True
    if (stem if dot and stem else lowered) in _SECRET_FILES:
        return True
    words = [w.lower() for w in _SEPARATORS.split(_CAMEL.sub("_", segment)) if w]
    if dot and stem and len(words) > 1:
        words = words[:-1]  # the extension is no word of the name: "token.txt" ends in token
    if any(w in _SECRET_WORDS for w in words):
        return True
    if words and words[-1] in _TOKEN_WORDS:
        return True
    return any(
        w in ("key", "keys") and prev in _KEY_QUALIFIERS for prev, w in itertools.pairwise(words)
    )
