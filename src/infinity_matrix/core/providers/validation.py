"""What a provider's configuration may say: every rule a configure request is checked against.

Each refusal is an ``InvalidInput`` with a stable code (``provider.invalid_name``,
``provider.invalid_kind``, ``provider.invalid_model``, ``provider.invalid_base_url``,
``provider.invalid_options``, ``provider.secret_in_options``, ``provider.invalid_routing``,
``provider.invalid_fallbacks``, ``provider.unknown_fallback``, ``provider.fallback_cycle``,
``provider.invalid_limit``, ``provider.invalid_api_key_env``, ``provider.invalid_credential``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from infinity_matrix.core.providers.records import ProviderConfig, RoutingRules
from infinity_matrix.errors import InvalidInput

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
OPTION_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
KINDS_NEEDING_BASE_URL = frozenset({"openai-compatible"})

MAX_MODEL = 200
MAX_URL = 2000
MAX_OPTIONS = 32
MAX_OPTION_VALUE = 2000
MAX_RULES = 64
MAX_RULE = 256
MAX_FALLBACKS = 8
MAX_CREDENTIAL = 32 * 1024  # a Vertex AI service-account JSON is a few KB
# (field, lowest, highest) for the numeric settings; None means "no limit" for the optional ones.
INT_LIMITS = (
    ("context_window", 1, 100_000_000),
    ("rpm", 1, 10_000_000),
    ("tpm", 1, 10_000_000_000),
    ("max_retries", 0, 10),
)
MAX_TIMEOUT_SECONDS = 3600.0

# Option names and values that look like credentials: those belong in the sealed credential,
# where they are encrypted and never shown, not in options, which are public.
_SECRET_WORDS = frozenset(
    {
        "key",
        "apikey",
        "secret",
        "token",
        "password",
        "passwd",
        "credential",
        "credentials",
        "authorization",
        "bearer",
        "cookie",
    }
)
_SECRET_VALUE = re.compile(r"^(sk-|sk_|ghp_|gho_|github_pat_|xai-|AIza|ya29\.|Bearer\s)")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def validate(spec: ProviderConfig, workspace: str, kinds: Collection[str]) -> ProviderConfig:
    """``spec`` checked and normalised for ``workspace`` (seq 0, no credential flag).

    Fallbacks are checked against the other providers by ``check_fallbacks``, at decide time.
    """
    _check(
        NAME.fullmatch(spec.name) is not None,
        "provider.invalid_name",
        "a provider name matches [a-z0-9][a-z0-9._-]{0,62}",
    )
    _check(
        spec.kind in kinds,
        "provider.invalid_kind",
        f"unknown provider kind {spec.kind!r}; known: {', '.join(sorted(kinds))}",
    )
    model = spec.model.strip() if isinstance(spec.model, str) else ""
    _check(
        0 < len(model) <= MAX_MODEL and model.isprintable(),
        "provider.invalid_model",
        f"a model is a name of 1 to {MAX_MODEL} printable characters",
    )
    base_url = _base_url(spec.base_url, spec.kind)
    _check_numbers(spec)
    env = spec.api_key_env or None
    _check(
        env is None or ENV_NAME.fullmatch(env) is not None,
        "provider.invalid_api_key_env",
        "api_key_env names an environment variable ([A-Za-z_][A-Za-z0-9_]*)",
    )
    fallbacks = _fallbacks(spec.fallbacks, spec.name)
    return replace(
        spec,
        workspace=workspace,
        model=model,
        base_url=base_url,
        options=_options(spec.options),
        routing=_routing(spec.routing),
        fallbacks=fallbacks,
        timeout_seconds=float(spec.timeout_seconds),
        api_key_env=env,
        has_credential=False,
        seq=0,
    )


def validate_credential(credential: str | None) -> None:
    """A credential is text of at most ``MAX_CREDENTIAL`` characters ("" removes it)."""
    if credential is None:
        return
    _check(
        isinstance(credential, str) and len(credential) <= MAX_CREDENTIAL,
        "provider.invalid_credential",
        f"a credential is text of at most {MAX_CREDENTIAL} characters",
    )
    _check(
        credential == credential.strip() or not credential.strip(),
        "provider.invalid_credential",
        "a credential has no leading or trailing whitespace",
    )


def check_fallbacks(config: ProviderConfig, others: Mapping[str, ProviderConfig]) -> None:
    """Every fallback of ``config`` is another provider of the workspace, and following
    fallbacks from any provider never comes back to where it started."""
    for name in config.fallbacks:
        _check(
            name in others and name != config.name,
            "provider.unknown_fallback",
            f"fallback {name!r} is not a provider of this workspace",
        )
    graph = {name: other.fallbacks for name, other in others.items()}
    graph[config.name] = config.fallbacks
    cycle = _cycle_through(config.name, graph)
    _check(
        cycle is None,
        "provider.fallback_cycle",
        f"fallbacks would go round in a circle: {' -> '.join(cycle or [])}",
    )


def _cycle_through(start: str, graph: Mapping[str, tuple[str, ...]]) -> list[str] | None:
    """A path from ``start`` back to ``start`` along fallbacks, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def _base_url(value: str | None, kind: str) -> str | None:
    if not value:
        _check(
            kind not in KINDS_NEEDING_BASE_URL,
            "provider.invalid_base_url",
            f"a provider of kind {kind!r} needs a base_url",
        )
        return None
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    _check(
        parts is not None
        and port_ok
        and len(value) <= MAX_URL
        and parts.scheme in ("http", "https")
        and bool(parts.hostname),
        "provider.invalid_base_url",
        "base_url is an http:// or https:// URL with a host",
    )
    assert parts is not None
    # user:password@host would put a secret in the public config.
    _check(
        parts.username is None and parts.password is None and not parts.fragment,
        "provider.invalid_base_url",
        "base_url carries no user, password or fragment; use the credential",
    )
    return value


def _check_numbers(spec: ProviderConfig) -> None:
    for field, low, high in INT_LIMITS:
        value = getattr(spec, field)
        if value is None and field != "max_retries":
            continue
        _check(
            isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
            "provider.invalid_limit",
            f"{field} is a whole number from {low} to {high}",
        )
    timeout = spec.timeout_seconds
    _check(
        isinstance(timeout, int | float)
        and not isinstance(timeout, bool)
        and math.isfinite(timeout)
        and 0 < timeout <= MAX_TIMEOUT_SECONDS,
        "provider.invalid_limit",
        f"timeout_seconds is above 0 and at most {MAX_TIMEOUT_SECONDS:g}",
    )


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    _check(
        isinstance(options, Mapping) and len(options) <= MAX_OPTIONS,
        "provider.invalid_options",
        f"options is an object of at most {MAX_OPTIONS} entries",
    )
    clean: dict[str, Any] = {}
    for key, value in options.items():
        _check(
            isinstance(key, str) and OPTION_KEY.fullmatch(key) is not None,
            "provider.invalid_options",
            f"option name {key!r} is not [A-Za-z0-9_.-]",
        )
        _check(
            value is None or isinstance(value, str | int | float | bool),
            "provider.invalid_options",
            f"option {key!r} is not a string, number or boolean",
        )
        _check(
            not isinstance(value, float) or math.isfinite(value),
            "provider.invalid_options",
            f"option {key!r} is not a finite number",
        )
        _check(
            not isinstance(value, str) or len(value) <= MAX_OPTION_VALUE,
            "provider.invalid_options",
            f"option {key!r} is longer than {MAX_OPTION_VALUE}",
        )
        _check(
            not _looks_secret(key, value),
            "provider.secret_in_options",
            f"option {key!r} looks like a credential: send it as the api_key instead",
        )
        clean[key] = value
    return clean


def _looks_secret(key: str, value: Any) -> bool:
    # apiKey, api_key, x-api-key, access.token: split camel case and separators into words.
    words = set(re.split(r"[^a-z0-9]+", _CAMEL.sub("_", key).lower()))
    if words & _SECRET_WORDS or "apikey" in key.lower().replace("_", "").replace("-", ""):
        return True
    return isinstance(value, str) and _SECRET_VALUE.match(value) is not None


def _routing(rules: RoutingRules) -> RoutingRules:
    lists = (rules.prefixes, rules.kinds, rules.tags)
    for items in lists:
        _check(
            len(items) <= MAX_RULES
            and all(
                isinstance(i, str) and 0 < len(i) <= MAX_RULE and i.isprintable() for i in items
            ),
            "provider.invalid_routing",
            f"routing lists hold at most {MAX_RULES} non-empty strings of up to {MAX_RULE}",
        )
    return RoutingRules(*(tuple(dict.fromkeys(items)) for items in lists))


def _fallbacks(fallbacks: tuple[str, ...], name: str) -> tuple[str, ...]:
    names = tuple(fallbacks)
    _check(
        len(names) <= MAX_FALLBACKS
        and len(set(names)) == len(names)
        and all(isinstance(n, str) and NAME.fullmatch(n) for n in names),
        "provider.invalid_fallbacks",
        f"fallbacks are at most {MAX_FALLBACKS} distinct provider names",
    )
    _check(name not in names, "provider.invalid_fallbacks", "a provider is not its own fallback")
    return names


def _check(ok: bool, code: str, detail: str) -> None:
    if not ok:
        raise InvalidInput(detail, code=code)
