"""The composition root: builds every service of the hub from ``Settings``; nothing else does."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from infinity_matrix.config import Settings
from infinity_matrix.core.audit import AuditService
from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.bootstrap import Bootstrap
from infinity_matrix.core.briefing import BriefingService
from infinity_matrix.core.changes import ChangesService
from infinity_matrix.core.insights.service import InsightService
from infinity_matrix.core.keys import KeyService
from infinity_matrix.core.knowledge.graph import GraphService
from infinity_matrix.core.patterns.service import PatternService
from infinity_matrix.core.ports import EventBus
from infinity_matrix.core.protocol.events import KEY_REVOKED, Event
from infinity_matrix.core.providers.ask import AskService
from infinity_matrix.core.providers.breaker import BreakerStore, MemoryBreakerStore
from infinity_matrix.core.providers.bundles import Bundles
from infinity_matrix.core.providers.flow import ContextFlow
from infinity_matrix.core.providers.operations import ProviderOperations
from infinity_matrix.core.providers.service import ProviderService
from infinity_matrix.core.retrieval.insights import InsightReader, InsightSource
from infinity_matrix.core.retrieval.semantic import SemanticChannel
from infinity_matrix.core.retrieval.service import RetrievalService
from infinity_matrix.core.retrieval.sources import CandidateSource, ContextSource, FactSource
from infinity_matrix.core.sync.context import ContextService
from infinity_matrix.core.sync.fanout import Fanout
from infinity_matrix.core.sync.log import EventLog
from infinity_matrix.core.sync.rooms import Rooms
from infinity_matrix.core.workspaces import WorkspaceService
from infinity_matrix.observability.metrics import InsightFigures, Metrics
from infinity_matrix.observability.provider_metrics import ProviderMetrics
from infinity_matrix.providers.registry import AdapterRegistry
from infinity_matrix.providers.resilience.caller import ResilientCaller
from infinity_matrix.providers.runtime import ProviderRuntime
from infinity_matrix.security.encryption import SecretBox
from infinity_matrix.security.identity import Authenticator, IdentityService
from infinity_matrix.security.passwords import PasswordHasher
from infinity_matrix.security.ratelimit import RateLimiter
from infinity_matrix.security.tokens import TokenIssuer, load_or_create_secret
from infinity_matrix.storage.blobs import LocalBlobStore
from infinity_matrix.storage.breakers import RedisBreakerStore
from infinity_matrix.storage.bus.memory import MemoryBus
from infinity_matrix.storage.bus.redis import RedisBus
from infinity_matrix.storage.credentials import SqlCredentialStore
from infinity_matrix.storage.database import Database, PoolSettings
from infinity_matrix.storage.embeddings import SqlEmbeddingCache
from infinity_matrix.storage.events import SqlEventStore
from infinity_matrix.storage.graph import SqlGraphStore
from infinity_matrix.storage.insights import SqlInsightStore
from infinity_matrix.storage.migrate import upgrade
from infinity_matrix.storage.patterns import SqlPatternIndex
from infinity_matrix.storage.providerlimits import LimitsProviderLimiter
from infinity_matrix.storage.providers import SqlProviderStore
from infinity_matrix.storage.ratelimit import LimitsRateLimiter
from infinity_matrix.storage.relevance import SqlAnyWordSearch
from infinity_matrix.storage.search import SqlSearchIndex

METRIC_WORKSPACES = 500  # /metrics reads insight figures of at most this many workspaces


@dataclass(slots=True)
class Hub:
    """Every service of one hub node, wired together."""

    settings: Settings
    database: Database
    store: SqlEventStore
    credentials: SqlCredentialStore
    bus: EventBus
    fanout: Fanout
    rooms: Rooms
    blobs: LocalBlobStore
    log: EventLog
    metrics: Metrics
    authenticator: Authenticator
    identity: IdentityService
    workspaces: WorkspaceService
    keys: KeyService
    context: ContextService
    audit: AuditService
    graph: GraphService
    insights: InsightService
    changes: ChangesService
    briefing: BriefingService
    retrieval: RetrievalService
    patterns: PatternService
    rate_limiter: RateLimiter
    login_limiter: RateLimiter
    insight_figures: InsightFigures
    adapters: AdapterRegistry
    providers: ProviderService
    provider_runtime: ProviderRuntime
    context_flow: ContextFlow
    ask: AskService
    provider_ops: ProviderOperations
    _closers: tuple[Callable[[], Awaitable[None]], ...] = ()

    @classmethod
    def build(cls, settings: Settings, *, hasher: PasswordHasher | None = None) -> Hub:
        """Wire the services; opens no connection and writes nothing until ``start``."""
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        secret = (
            settings.secret_key.get_secret_value().encode()
            if settings.secret_key
            else load_or_create_secret(settings.secret_key_file)
        )
        database = Database(settings.effective_database_url, _pool(settings))
        store = SqlEventStore(database)
        credentials = SqlCredentialStore(database)
        bus: EventBus = (
            RedisBus(settings.redis_url, prefix=settings.redis_prefix)
            if settings.redis_url
            else MemoryBus()
        )
        metrics = Metrics()
        metrics.add_pool_collector(database.pool_status)
        flows: list[ContextFlow] = []  # the context flow, once built, sees local commits
        log = EventLog(
            store,
            bus,
            max_batch=settings.group_commit_max,
            wait_seconds=settings.group_commit_wait_ms / 1000,
            observer=lambda _size, events: _on_commit(metrics, flows, events),
        )
        metrics.add_document_cache_collector(log.documents.figures)
        authorizer = Authorizer(store)
        tokens = TokenIssuer(
            secret, access_ttl=timedelta(seconds=settings.access_token_ttl_seconds)
        )
        identity = IdentityService(
            credentials,
            tokens,
            hasher or PasswordHasher(),
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
        limiter_uri = settings.redis_url or "async+memory://"
        authenticator = Authenticator(credentials, tokens)
        fanout = Fanout(store, bus)
        fanout.listen(lambda events: _forget_revoked_keys(authenticator, events))
        insights = InsightService(store, SqlInsightStore(database), log, authorizer)
        retrieval = _retrieval(settings, database, authorizer, insights)
        fanout.listen(retrieval.observe)
        patterns = PatternService(store, SqlPatternIndex(database), insights, authorizer)
        fanout.listen(patterns.observe)
        context = ContextService(
            store,
            log,
            authorizer,
            max_value_bytes=settings.max_value_bytes,
            search=SqlSearchIndex(database),
        )
        briefing = BriefingService(context, insights, store)
        workspaces = WorkspaceService(store, log, authorizer, identity.user_exists)
        providers = _providers(settings, database, log, authorizer, secret, metrics, briefing)
        flows.append(providers.flow)
        return cls(
            settings=settings,
            database=database,
            store=store,
            credentials=credentials,
            bus=bus,
            fanout=fanout,
            rooms=Rooms(context, fanout),
            blobs=LocalBlobStore(database, settings.blob_dir),
            log=log,
            metrics=metrics,
            authenticator=authenticator,
            identity=identity,
            workspaces=workspaces,
            keys=KeyService(credentials, log, authorizer),
            context=context,
            audit=AuditService(store, authorizer),
            graph=GraphService(store, SqlGraphStore(database), log, authorizer),
            insights=insights,
            changes=ChangesService(store, authorizer),
            briefing=briefing,
            retrieval=retrieval,
            patterns=patterns,
            rate_limiter=LimitsRateLimiter(
                settings.rate_limit, storage_uri=limiter_uri, prefix=f"{settings.redis_prefix}:rl"
            ),
            login_limiter=LimitsRateLimiter(
                settings.login_rate_limit,
                storage_uri=limiter_uri,
                prefix=f"{settings.redis_prefix}:login",
            ),
            insight_figures=metrics.add_insight_collector(),
            adapters=providers.runtime.registry,
            providers=providers.service,
            provider_runtime=providers.runtime,
            context_flow=providers.flow,
            ask=AskService(
                authorizer,
                providers.service,
                retrieval,
                insights,
                providers.bundles,
                providers.runtime,
                log,
                observer=lambda workspace, result: providers.metrics.observe_ask(
                    workspace,
                    result.provider,
                    result.usage.to_json(),
                    [str(i["outcome"]) for i in result.insights],
                ),
            ),
            provider_ops=ProviderOperations(
                authorizer, providers.service, workspaces, providers.runtime, providers.flow
            ),
            _closers=providers.closers,
        )

    async def start(self) -> None:
        """Apply migrations, set up a new database (workspace ``default`` and keys), then
        start live delivery."""
        await upgrade(self.database)
        token = self.settings.bootstrap_token
        await Bootstrap(self.store, self.workspaces, self.keys).run(
            token=token.get_secret_value() if token else None,
            credentials_file=self.settings.credentials_file,
            url=self.settings.effective_url,
        )
        await self.fanout.start()
        self.insights.start()
        await self.patterns.start()
        self.context_flow.start_catch_up([w.id for w in await self.store.list_workspaces()])

    async def refresh_insight_figures(self) -> None:
        """Read the insight figures of every workspace (at most ``METRIC_WORKSPACES``) for
        the next ``/metrics`` answer."""
        workspaces = await self.store.list_workspaces()
        self.insight_figures.by_workspace = {
            w.id: (await self.insights.figures(w.id)).to_json()
            for w in workspaces[:METRIC_WORKSPACES]
        }

    async def ready(self) -> dict[str, str]:
        """Checks the database, and Redis when configured; raises ``Unavailable``."""
        await self.database.ping()
        checks = {"database": "ok"}
        if self.settings.redis_url:
            await self.rate_limiter.check_ready()
            await self.bus.ready()
            checks["redis"] = "ok"
        return checks

    async def close(self) -> None:
        await self.patterns.close()  # its worker writes through the log
        await self.context_flow.close()  # pushes what is pending, through the log
        await self.log.close()
        await self.insights.close()  # flushes the usage counters
        await self.fanout.close()
        await self.rate_limiter.aclose()
        await self.login_limiter.aclose()
        await self.provider_runtime.aclose()  # the adapters' pooled HTTP clients
        for close in self._closers:
            await close()
        await self.database.dispose()


def _on_commit(metrics: Metrics, flows: list[ContextFlow], events: Sequence[Event]) -> None:
    metrics.observe_batch(e.type for e in events)
    for flow in flows:
        flow.observe(events)


@dataclass(frozen=True, slots=True)
class _Providers:
    service: ProviderService
    runtime: ProviderRuntime
    bundles: Bundles
    flow: ContextFlow
    closers: tuple[Callable[[], Awaitable[None]], ...]
    metrics: ProviderMetrics


def _providers(
    settings: Settings,
    database: Database,
    log: EventLog,
    authorizer: Authorizer,
    secret: bytes,
    metrics: Metrics,
    briefing: BriefingService,
) -> _Providers:
    """Provider configuration, the adapters behind the one resilient caller (breakers and
    limits in Redis when configured, so every node agrees), and the context flow."""
    registry = AdapterRegistry()
    service = ProviderService(
        SqlProviderStore(database),
        log,
        authorizer,
        SecretBox(secret),
        kinds=registry.kinds,
        # api_key_env names a variable of the hub's own environment (docs/providers.md),
        # one of those the operator allows.
        env=os.environ,
        key_envs=settings.provider_key_envs,
    )
    prefix = settings.redis_prefix
    breakers: BreakerStore = (
        RedisBreakerStore(settings.redis_url, prefix=prefix)
        if settings.redis_url
        else MemoryBreakerStore()
    )
    limiter = LimitsProviderLimiter(
        storage_uri=settings.redis_url or "async+memory://", prefix=prefix
    )
    provider_metrics = ProviderMetrics(metrics.registry)
    caller = ResilientCaller(breakers=breakers, limiter=limiter, metrics=provider_metrics)
    runtime = ProviderRuntime(registry, service.credential, caller, last_push=service.last_push)
    bundles = Bundles(briefing)
    flow = ContextFlow(
        service,
        bundles,
        runtime,
        log,
        debounce_seconds=settings.provider_sync_debounce_ms / 1000,
        max_delay_seconds=settings.provider_sync_max_delay_ms / 1000,
    )
    closers: list[Callable[[], Awaitable[None]]] = [limiter.aclose]
    if isinstance(breakers, RedisBreakerStore):
        closers.append(breakers.aclose)
    return _Providers(service, runtime, bundles, flow, tuple(closers), provider_metrics)


def _forget_revoked_keys(authenticator: Authenticator, events: Sequence[Event]) -> None:
    for event in events:
        if event.type == KEY_REVOKED:
            authenticator.forget_key(event.payload["id"])


def _retrieval(
    settings: Settings,
    database: Database,
    authorizer: Authorizer,
    insights: InsightReader | None = None,
) -> RetrievalService:
    """Retrieval over full text, plus sentence embeddings when the extra is installed."""
    sources: list[CandidateSource] = [
        ContextSource(SqlAnyWordSearch(database)),
        FactSource(SqlGraphStore(database)),
    ]
    if insights is not None:
        sources.append(InsightSource(insights))
    semantic = None
    if settings.embeddings:
        try:
            from infinity_matrix.providers import embeddings, vectors
        except ImportError:  # the optional extra is not installed: full text only
            embeddings = None  # type: ignore[assignment]
        if embeddings is not None and embeddings.model_installed(settings.embedding_model):
            semantic = SemanticChannel(
                embeddings.ProcessEmbedder(settings.embedding_model),
                SqlEmbeddingCache(database),
                vectors.NumpyVectorIndex(max_rows=settings.embedding_max_rows),
                sources,
            )
    return RetrievalService(authorizer, sources, semantic=semantic)


def _pool(settings: Settings) -> PoolSettings:
    return PoolSettings(
        size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        timeout=settings.db_pool_timeout_seconds,
        recycle=settings.db_pool_recycle_seconds,
    )
