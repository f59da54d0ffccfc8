"""Data flow 2: consult a provider with the shared context and bring its insights back.

The question goes out with the provider's context bundle (the workspace briefing, which the
provider may already hold) and the items retrieval ranks most relevant to it. The answer comes
back with the insights extracted from it (``core.providers.answers``); each is recorded with the
provider as its source — a near-duplicate corroborates, a contradiction supersedes, as for any
insight — so the context flow distributes it to the other providers. Every ask is logged as a
``provider.asked`` event (who asked whom, the model, usage, the insights it produced): the
usage that the provider's quality figures are computed from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.insights.records import NewInsight
from infinity_matrix.core.insights.service import InsightService
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.providers.answers import (
    ASK_INSTRUCTIONS,
    ASK_SCHEMA,
    PLAIN_INSTRUCTIONS,
    parse_answer,
)
from infinity_matrix.core.providers.bundles import Bundles
from infinity_matrix.core.providers.commands import LogProviderEvent
from infinity_matrix.core.providers.ports import ProviderCalls
from infinity_matrix.core.providers.records import (
    Answered,
    ChatRequest,
    Message,
    ProviderConfig,
    RoutingRules,
    Usage,
)
from infinity_matrix.core.providers.routing import admits_insight, admits_key
from infinity_matrix.core.providers.service import ProviderService
from infinity_matrix.core.retrieval.records import Candidate, RetrievalResult
from infinity_matrix.core.retrieval.render import relevant_section
from infinity_matrix.core.retrieval.service import RetrievalService
from infinity_matrix.core.sync.log import EventLog, Origin
from infinity_matrix.errors import InfinityMatrixError, InvalidInput
from infinity_matrix.security.access import Permission
from infinity_matrix.security.principals import Principal

log = structlog.get_logger(__name__)

MAX_QUESTION = 20_000
DEFAULT_BUDGET = 2_000
MIN_BUDGET, MAX_BUDGET = 100, 100_000
ASK_DEADLINE_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class AskResult:
    answer: str
    provider: str  # the provider that answered (the one asked, or a fallback)
    model: str
    usage: Usage
    request_id: str | None
    insights: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    retrieved: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    seq: int = 0  # the provider.asked event

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "provider": self.provider,
            "model": self.model,
            "usage": self.usage.to_json(),
            "request_id": self.request_id,
            "insights": self.insights,
            "rejected_insights": self.rejected,
            "retrieved": self.retrieved,
            "fallbacks": [{"provider": n, "reason": r} for n, r in self.skipped],
            "seq": self.seq,
        }


AskObserver = Callable[[str, AskResult], None]


class AskService:
    """Errors: ``NotFound`` (workspace or provider), ``Forbidden`` (viewers cannot invoke
    providers), ``InvalidInput`` (empty or oversized question, budget out of range), and the
    ``ProviderError`` of the last provider tried when none answered."""

    def __init__(
        self,
        authorizer: Authorizer,
        providers: ProviderService,
        retrieval: RetrievalService,
        insights: InsightService,
        bundles: Bundles,
        calls: ProviderCalls,
        log: EventLog,
        *,
        observer: AskObserver | None = None,
    ) -> None:
        self._auth = authorizer
        self._providers = providers
        self._retrieval = retrieval
        self._insights = insights
        self._bundles = bundles
        self._calls = calls
        self._log = log
        self._observer = observer

    async def ask(
        self,
        principal: Principal,
        workspace: str,
        provider: str,
        question: str,
        *,
        budget_tokens: int = DEFAULT_BUDGET,
        source: str | None = None,
    ) -> AskResult:
        await self._auth.check(principal, workspace, Permission.INVOKE_PROVIDERS)
        _check(question, budget_tokens)
        config = await self._providers.get(principal, workspace, provider)
        chain = [config, *await self._fallbacks(principal, workspace, config)]
        retrieved = await self._retrieval.retrieve(
            principal, workspace, question, target=target_of(config), budget_tokens=budget_tokens
        )
        package = routed(retrieved, config.routing)
        answered = await self._calls.complete(
            chain,
            await self._request(config, question, package),
            deadline_seconds=ASK_DEADLINE_SECONDS,
        )
        result = replace(
            await self._record(principal, workspace, answered, source),
            retrieved=len(package.items),
            skipped=answered.skipped,
        )
        receipt = await self._log.submit(
            workspace,
            LogProviderEvent(ev.PROVIDER_ASKED, config.name, _asked_payload(result)),
            Origin(actor=principal.actor, source=source),
        )
        result = replace(result, seq=receipt.seq)
        if self._observer is not None:
            self._observer(workspace, result)
        return result

    async def _fallbacks(
        self, principal: Principal, workspace: str, config: ProviderConfig
    ) -> list[ProviderConfig]:
        chain: list[ProviderConfig] = []
        for name in config.fallbacks:
            try:
                chain.append(await self._providers.get(principal, workspace, name))
            except InfinityMatrixError:  # removed since: the chain goes on without it
                log.warning("provider.fallback_missing", provider=config.name, fallback=name)
        return chain

    async def _request(
        self, config: ProviderConfig, question: str, package: RetrievalResult
    ) -> ChatRequest:
        structured = await self._calls.structured(config)
        instructions = ASK_INSTRUCTIONS if structured else PLAIN_INSTRUCTIONS
        instructions += relevant_section(package, heading="Context most relevant to the question")
        return ChatRequest(
            messages=(Message("user", question),),
            context=await self._bundles.for_provider(config),
            instructions=instructions,
            max_output_tokens=2_048,
            response_schema=ASK_SCHEMA if structured else None,
            schema_name="answer_with_insights",
        )

    async def _record(
        self, principal: Principal, workspace: str, answered: Answered, source: str | None
    ) -> AskResult:
        parsed = parse_answer(answered.result.text, answered.result.structured)
        recorded: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        for found in parsed.insights:
            new = NewInsight(
                kind=found.kind,
                title=found.title,
                body=found.body,
                tags=found.tags,
                assistant=answered.provider.name,
                model=answered.result.model or answered.provider.model,
            )
            try:
                outcome = await self._insights.record(
                    principal, workspace, new, source=source or f"provider:{answered.provider.name}"
                )
            except InvalidInput as error:  # e.g. a title too long: reported, not fatal
                rejected.append({"title": found.title[:200], "code": error.code})
                continue
            recorded.append(outcome.to_json())
        return AskResult(
            answer=parsed.answer,
            provider=answered.provider.name,
            model=answered.result.model,
            usage=answered.result.usage,
            request_id=answered.result.request_id,
            insights=recorded,
            rejected=rejected,
        )


def target_of(config: ProviderConfig) -> str:
    """The retrieval target (tokenizer family) of a provider: its kind, or for a local
    OpenAI-compatible server its model's name."""
    return config.model if config.kind == "openai-compatible" else config.kind


def routed(package: RetrievalResult, rules: RoutingRules) -> RetrievalResult:
    """The package as the provider may receive it: never a context entry whose key looks like
    a secret (retrieval serves the people who may read them, but no provider is ever sent one,
    not even when the question is about it), and only what the provider's routing rules admit
    (an insight must carry one of ``rules.tags`` when tags are set, so an item whose tags are
    unknown here is left out)."""
    kept = [item for item in package.items if _admitted(item.candidate, rules)]
    if len(kept) == len(package.items):
        return package
    return replace(package, items=kept, tokens_used=sum(item.tokens for item in kept))


def _admitted(candidate: Candidate, rules: RoutingRules) -> bool:
    if candidate.type == "context":
        return admits_key(rules, candidate.ref)
    if candidate.type == "insight":
        return admits_insight(rules, candidate.kind or "", ())
    return True


def _check(question: str, budget_tokens: int) -> None:
    if not question.strip():
        raise InvalidInput("the question is empty", code="ask.invalid_question")
    if len(question) > MAX_QUESTION:
        raise InvalidInput(
            f"the question is longer than {MAX_QUESTION} characters", code="ask.invalid_question"
        )
    if not MIN_BUDGET <= budget_tokens <= MAX_BUDGET:
        raise InvalidInput(
            f"budget_tokens is {MIN_BUDGET} to {MAX_BUDGET}", code="ask.invalid_budget"
        )


def _asked_payload(result: AskResult) -> dict[str, Any]:
    return {
        "provider": result.provider,
        "model": result.model,
        "usage": result.usage.to_json(),
        "request_id": result.request_id,
        "insights": [{"id": i["insight"]["id"], "outcome": i["outcome"]} for i in result.insights],
        "retrieved": result.retrieved,
        "fallbacks": [n for n, _ in result.skipped],
    }
