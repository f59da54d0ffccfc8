"""GraphService: the knowledge-graph memory (the reference memory server's nine operations, with
provenance, validity and paging), its history, and import/export of ``memory.jsonl``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from infinity_matrix.core.authorization import Authorizer
from infinity_matrix.core.knowledge import memoryfile, validate
from infinity_matrix.core.knowledge.commands import (
    AddObservations,
    CreateEntities,
    CreateRelations,
    DeleteEntities,
    DeleteObservations,
    DeleteRelations,
    ImportBatch,
    entity_of,
    relation_of,
    unique,
)
from infinity_matrix.core.knowledge.records import (
    EntityRecord,
    GraphChange,
    GraphPage,
    ImportReport,
    NewEntity,
    NewObservations,
    NewRelation,
    ObservationDeletion,
    ObservationsAdded,
    Relation,
    RelationRecord,
    Selection,
)
from infinity_matrix.core.ports import EventStore, GraphStore
from infinity_matrix.core.protocol import events as ev
from infinity_matrix.core.sync.log import Command, EventLog, Origin, Receipt
from infinity_matrix.errors import InvalidInput
from infinity_matrix.security.access import Permission
from infinity_matrix.security.principals import Principal

IMPORT_BATCH_ROWS = 5_000  # entities + observations + relations per import transaction
EXPORT_PAGE = 1_000


class GraphService:
    """The knowledge graph of a workspace; every method checks authorization itself.

    Writes take ``source`` (the client or assistant) and ``client_msg_id`` (idempotency: a repeat
    answers the first write's seq with ``duplicate`` and empty items). Reads answer a
    ``GraphPage`` of at most ``limit`` items; pass its ``next_cursor`` back as ``cursor``.

    Errors: ``NotFound`` (workspace invisible; ``graph.entity_not_found`` from
    ``add_observations``), ``Forbidden`` (role too low), ``InvalidInput`` (``graph.invalid_name``,
    ``graph.invalid_type``, ``graph.invalid_observation``, ``graph.invalid_confidence``,
    ``graph.invalid_query``, ``graph.invalid_cursor``, ``graph.invalid_import``,
    ``graph.too_many``, ``request.invalid_limit``), ``TooLarge`` (``graph.too_large``: over a
    million characters of observations in one call), ``Conflict`` (``idempotency.conflict``).
    """

    def __init__(
        self, store: EventStore, graph: GraphStore, log: EventLog, authorizer: Authorizer
    ) -> None:
        self._store = store
        self._graph = graph
        self._log = log
        self._auth = authorizer

    async def create_entities(
        self,
        principal: Principal,
        workspace: str,
        entities: Sequence[NewEntity],
        *,
        source: str | None = None,
        client_msg_id: str | None = None,
    ) -> GraphChange[EntityRecord]:
        """Create the entities whose names are new (an existing name is skipped, not changed);
        answers the created ones."""
        await self._auth.check(principal, workspace, Permission.WRITE)
        validate.count(entities, "entities")
        checked = tuple(validate.entity(e) for e in entities)
        validate.contents([o for e in checked for o in e.observations])
        receipt = await self._submit(
            principal, workspace, CreateEntities(checked), source, client_msg_id
        )
        created = [entity_of(e) for e in receipt.events if e.type == ev.ENTITY_CREATED]
        return GraphChange(created, receipt.seq, receipt.duplicate)

    async def create_relations(
        self,
        principal: Principal,
        workspace: str,
        relations: Sequence[NewRelation],
        *,
        source: str | None = None,
        client_msg_id: str | None = None,
    ) -> GraphChange[RelationRecord]:
        """Create the relations that do not exist yet; their entities need not exist (as in
        the reference). Answers the created ones."""
        await self._auth.check(principal, workspace, Permission.WRITE)
        validate.count(relations, "relations")
        command = CreateRelations(tuple(validate.relation(r) for r in relations))
        receipt = await self._submit(principal, workspace, command, source, client_msg_id)
        created = [relation_of(e) for e in receipt.events if e.type == ev.RELATION_CREATED]
        return GraphChange(created, receipt.seq, receipt.duplicate)

    async def add_observations(
        self,
        principal: Principal,
        workspace: str,
        observations: Sequence[NewObservations],
        *,
        source: str | None = None,
        client_msg_id: str | None = None,
    ) -> GraphChange[ObservationsAdded]:
        """Add each item's new contents to its entity; answers one item per input item.

        Raises ``NotFound`` (``graph.entity_not_found``, the reference's message "Entity with
        name X not found") if any entity does not exist, and then adds nothing.
        """
        await self._auth.check(principal, workspace, Permission.WRITE)
        validate.count(observations, "observation items")
        checked = tuple(validate.new_observations(o) for o in observations)
        validate.contents([c for o in checked for c in o.contents])
        command = AddObservations(checked)
        receipt = await self._submit(principal, workspace, command, source, client_msg_id)
        return GraphChange(list(command.outcome), receipt.seq, receipt.duplicate)

    async def delete_entities(
        self,
        principal: Principal,
        workspace: str,
        names: Sequence[str],
        *,
        source: str | None = None,
        client_msg_id: str | None = None,
    ) -> GraphChange[str]:
        """Supersede the entities, their observations and the relations from or to them;
        unknown names are ignored. Answers the names of the entities deleted."""
        await self._auth.check(principal, workspace, Permission.WRITE)
        validate.count(names, "names")
        command = DeleteEntities(tuple(validate.name(n) for n in names))
        receipt = await self._submit(principal, workspace, command, source, client_msg_id)
        return GraphChange(list(command.outcome), receipt.seq, receipt.duplicate)

    async def delete_observations(
        self,
        principal: Principal,
        workspace: str,
        deletions: Sequence[ObservationDeletion],
        *,
        source: str | None = None,
        client_msg_id: str | None = None,
    ) -> GraphChange[ObservationDeletion]:
        """Supersede the given observations; unknown entities and contents are ignored.
        Answers, per entity, the observations deleted."""
        await self._auth.check(principal, workspace, Permission.WRITE)
        validate.count(deletions, "deletion items")
        checked = tuple(validate.deletion(d) for d in deletions)
        validate.contents([c for d in checked for c in d.observations])
        command = DeleteObservations(checked)
        receipt = await self._submit(principal, workspace, command, source, client_msg_id)
        return GraphChange(list(command.outcome), receipt.seq, receipt.duplicate)

    async def delete_relations(
        self,
        principal: Principal,
        workspace: str,
        relations: Sequence[Relation],
        *,
        source: str | None = None,
        client_msg_id: str | None = None,
    ) -> GraphChange[Relation]:
        """Supersede the given relations; unknown ones are ignored. Answers those deleted."""
        await self._auth.check(principal, workspace, Permission.WRITE)
        validate.count(relations, "relations")
        command = DeleteRelations(tuple(validate.relation_key(r) for r in relations))
        receipt = await self._submit(principal, workspace, command, source, client_msg_id)
        return GraphChange(list(command.outcome), receipt.seq, receipt.duplicate)

    async def read_graph(
        self,
        principal: Principal,
        workspace: str,
        *,
        cursor: str | None = None,
        limit: int = validate.DEFAULT_PAGE,
    ) -> GraphPage:
        """The whole live graph a page at a time: every entity, then every relation, each in
        creation order and each exactly once over all pages."""
        await self._auth.check(principal, workspace, Permission.READ)
        return await self._page(workspace, Selection(), cursor, limit)

    async def search_nodes(
        self,
        principal: Principal,
        workspace: str,
        query: str,
        *,
        cursor: str | None = None,
        limit: int = validate.DEFAULT_PAGE,
    ) -> GraphPage:
        """Entities whose name, type or an observation contains ``query`` (case-insensitive),
        then the relations from or to any of them."""
        await self._auth.check(principal, workspace, Permission.READ)
        selection = Selection(query=validate.query(query))
        return await self._page(workspace, selection, cursor, limit)

    async def open_nodes(
        self,
        principal: Principal,
        workspace: str,
        names: Sequence[str],
        *,
        cursor: str | None = None,
        limit: int = validate.DEFAULT_PAGE,
    ) -> GraphPage:
        """The entities of these names that exist, then the relations from or to any of them;
        at most ``validate.MAX_ITEMS`` names."""
        await self._auth.check(principal, workspace, Permission.READ)
        validate.count(names, "names")
        selection = Selection(names=tuple(unique(validate.name(n) for n in names)))
        return await self._page(workspace, selection, cursor, limit)

    async def history(
        self,
        principal: Principal,
        workspace: str,
        name: str,
        *,
        before: int | None = None,
        limit: int = 50,
    ) -> list[ev.Event]:
        """Events about the name, newest first: every entity that had it (deleted ones too),
        its observations, and the relations from it."""
        await self._auth.check(principal, workspace, Permission.READ)
        subject = ev.entity_subject(validate.name(name))
        return await self._store.read_events(
            workspace,
            subject=subject,
            before=before,
            limit=validate.limit(limit),
            newest_first=True,
        )

    async def import_jsonl(
        self,
        principal: Principal,
        workspace: str,
        data: bytes | str | Iterable[str],
        *,
        source: str | None = None,
    ) -> ImportReport:
        """Merge a reference ``memory.jsonl`` into the graph, in batches through the log.

        Missing entities, observations and relations are added, nothing is changed or removed,
        so importing a file again adds nothing. The whole file is checked before anything is
        written (``graph.invalid_import`` with the ``line``).
        """
        await self._auth.check(principal, workspace, Permission.WRITE)
        parsed = memoryfile.parse(data)
        origin = Origin(actor=principal.actor, source=source)
        entities = observations = relations = 0
        seq = None
        for batch in _batches(parsed.entities, parsed.relations):
            receipt = await self._log.submit(workspace, batch, origin)
            entities += batch.outcome.entities
            observations += batch.outcome.observations
            relations += batch.outcome.relations
            seq = receipt.seq
        if seq is None:
            record = await self._store.get_workspace(workspace)
            seq = record.head if record else 0
        return ImportReport(parsed.lines, entities, observations, relations, seq)

    async def export_jsonl(self, principal: Principal, workspace: str) -> AsyncIterator[str]:
        """The live graph as ``memory.jsonl`` lines (each ending in a newline), entities first;
        the reference server reads it. Authorization is checked before this returns.

        Pages are read one after another, not as one snapshot: a write during the export may
        or may not be in it.
        """
        await self._auth.check(principal, workspace, Permission.READ)
        return self._export(workspace)

    async def _export(self, workspace: str) -> AsyncIterator[str]:
        after = 0
        while True:
            entities = await self._graph.entities(
                workspace, Selection(), after=after, limit=EXPORT_PAGE
            )
            for entity in entities:
                yield memoryfile.entity_line(entity) + "\n"
            if len(entities) < EXPORT_PAGE:
                break
            after = entities[-1].provenance.seq
        after = 0
        while True:
            relations = await self._graph.relations(
                workspace, Selection(), after=after, limit=EXPORT_PAGE
            )
            for relation in relations:
                yield memoryfile.relation_line(relation) + "\n"
            if len(relations) < EXPORT_PAGE:
                break
            after = relations[-1].provenance.seq

    async def _submit(
        self,
        principal: Principal,
        workspace: str,
        command: Command,
        source: str | None,
        client_msg_id: str | None,
    ) -> Receipt:
        origin = Origin(actor=principal.actor, source=source, client_msg_id=client_msg_id)
        return await self._log.submit(workspace, command, origin)

    async def _page(
        self, workspace: str, selection: Selection, cursor: str | None, limit: int
    ) -> GraphPage:
        limit = validate.limit(limit)
        if selection.names == ():
            return GraphPage()
        phase, after = _parse_cursor(cursor)
        in_entities = phase == _ENTITIES
        # One item more than the page holds says whether another page follows.
        entities, relations = await self._graph.page(
            workspace,
            selection,
            entities_after=after if in_entities else None,
            relations_after=0 if in_entities else after,
            limit=limit + 1,
        )
        if len(entities) > limit:
            entities = entities[:limit]
            return GraphPage(entities, [], _cursor(_ENTITIES, entities[-1].provenance.seq))
        room = limit - len(entities)
        if len(relations) <= room:
            return GraphPage(entities, relations, None)
        relations = relations[:room]
        last = relations[-1].provenance.seq if relations else 0
        return GraphPage(entities, relations, _cursor(_RELATIONS, last))


_ENTITIES, _RELATIONS = "e", "r"


def _cursor(phase: str, seq: int) -> str:
    return f"{phase}{seq}"


def _parse_cursor(cursor: str | None) -> tuple[str, int]:
    """``(phase, after)`` from a cursor this service made: entities or relations after a seq."""
    if cursor is None or cursor == "":
        return _ENTITIES, 0
    phase, number = cursor[:1], cursor[1:]
    if phase not in (_ENTITIES, _RELATIONS) or not number.isascii() or not number.isdigit():
        raise InvalidInput("not a cursor this service made", code="graph.invalid_cursor")
    return phase, int(number)


def _batches(entities: list[NewEntity], relations: list[NewRelation]) -> Iterable[ImportBatch]:
    """Import commands of at most about ``IMPORT_BATCH_ROWS`` rows each, entities first."""
    batch_entities: list[NewEntity] = []
    batch_relations: list[NewRelation] = []
    rows = 0
    items: list[Any] = [*entities, *relations]
    for item in items:
        weight = 1 + len(item.observations) if isinstance(item, NewEntity) else 1
        if rows and rows + weight > IMPORT_BATCH_ROWS:
            yield ImportBatch(tuple(batch_entities), tuple(batch_relations))
            batch_entities, batch_relations, rows = [], [], 0
        if isinstance(item, NewEntity):
            batch_entities.append(item)
        else:
            batch_relations.append(item)
        rows += weight
    if rows:
        yield ImportBatch(tuple(batch_entities), tuple(batch_relations))
