"""What flows between the hub and a provider, and how a provider is configured."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

PROVIDER_KINDS = ("openai", "openai-compatible", "gemini", "vertex", "anthropic", "copilot")
# The variables of the hub's environment a provider's ``api_key_env`` may name by default.
DEFAULT_KEY_ENVS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "OPENROUTER_API_KEY",
    "TOGETHER_API_KEY",
    "DEEPSEEK_API_KEY",
    "XAI_API_KEY",
    "OLLAMA_API_KEY",
)


@dataclass(frozen=True, slots=True)
class Message:
    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True, slots=True)
class ContextBundle:
    """What the hub tells a provider about a workspace: the briefing text (the current context,
    rendered) at a version (the seq it reflects)."""

    workspace: str
    text: str
    version: int

    @property
    def digest(self) -> str:
        """Names the text's content: pushes of an unchanged briefing can be skipped."""
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One question to a model: the conversation so far, the context to give it, and (when the
    answer must be structured) the JSON schema of the answer."""

    messages: tuple[Message, ...]
    context: ContextBundle | None = None
    instructions: str | None = None
    max_output_tokens: int = 1024
    temperature: float | None = None
    response_schema: Mapping[str, Any] | None = None
    schema_name: str = "answer"


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_json(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
        }


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A provider's answer: its text (and parsed JSON when a schema was asked for), the model
    that answered, token usage and the provider's request id."""

    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    request_id: str | None = None
    finish_reason: str | None = None
    structured: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class PushResult:
    """A sync target's acknowledgement: the provider-side object that now holds the briefing
    (a cached content, a conversation, a vector store file, a file written) and its version."""

    object_id: str
    version: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RoutingRules:
    """Which changes a provider receives: context keys under one of ``prefixes`` (empty = all),
    entry or insight kinds in ``kinds`` (empty = all), insights carrying one of ``tags``
    (empty = all). Keys that look like secrets are never sent, whatever the rules say."""

    prefixes: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, list[str]]:
        return {"prefixes": list(self.prefixes), "kinds": list(self.kinds), "tags": list(self.tags)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RoutingRules:
        data = data or {}
        return cls(
            prefixes=tuple(data.get("prefixes") or ()),
            kinds=tuple(data.get("kinds") or ()),
            tags=tuple(data.get("tags") or ()),
        )


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One provider configured in a workspace. The credential itself is never here: adapters
    receive it decrypted, separately; ``has_credential`` says whether one is stored and
    ``api_key_env`` names a variable of the hub's environment to read it from instead.

    ``options`` are kind-specific: ``api`` (``chat`` | ``responses``) for OpenAI kinds, ``sync``
    (``none`` | ``conversations`` | ``vector_store`` | ``cached_content``), ``project`` and
    ``location`` for Vertex AI, ``demo`` for the labelled demo provider."""

    workspace: str
    name: str
    kind: str
    model: str
    base_url: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    routing: RoutingRules = field(default_factory=RoutingRules)
    fallbacks: tuple[str, ...] = ()
    context_window: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    timeout_seconds: float = 60.0
    max_retries: int = 3
    has_credential: bool = False
    api_key_env: str | None = None
    seq: int = 0  # the event that last configured it: adapters are rebuilt when it changes

    @property
    def deployment(self) -> str:
        """What a circuit breaker and the provider's own limits are per: endpoint and model."""
        return f"{self.kind}|{self.base_url or 'default'}|{self.model}"

    def to_json(self) -> dict[str, Any]:
        """The public form (REST, CLI, events): everything but the credential."""
        return {
            "name": self.name,
            "kind": self.kind,
            "model": self.model,
            "base_url": self.base_url,
            "options": dict(self.options),
            "routing": self.routing.to_json(),
            "fallbacks": list(self.fallbacks),
            "context_window": self.context_window,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "timeout_seconds": self.timeout_seconds,
            "max_retries": self.max_retries,
            "has_credential": self.has_credential,
            "api_key_env": self.api_key_env,
            "seq": self.seq,
        }


@dataclass(frozen=True, slots=True)
class Answered:
    """A completed call: the result, the provider that gave it (the primary or a fallback),
    the attempts it took and the providers passed over on the way, with why."""

    result: ChatResult
    provider: ProviderConfig
    attempts: int = 1
    skipped: tuple[tuple[str, str], ...] = ()
