"""Which adapter builds a provider of each kind: the built-in kinds and third-party ones, all
found through the entry-point group ``infinity_matrix.providers`` (name = kind).

Entry points are listed eagerly (cheap: package metadata) but loaded only when a kind's factory
is first asked for, so importing one SDK never costs the others, and a kind whose module fails
to import is reported as that kind's error instead of breaking every provider.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from infinity_matrix.core.providers.ports import AdapterFactory
from infinity_matrix.errors import NotFound, Unavailable

__all__ = ["ENTRY_POINT_GROUP", "AdapterRegistry"]

ENTRY_POINT_GROUP = "infinity_matrix.providers"


class AdapterRegistry:
    """Adapter factories by provider kind.

    ``factory`` raises ``NotFound`` (``provider.unknown_kind``) for a kind nobody provides, and
    ``Unavailable`` (``provider.adapter_unavailable``) when the kind's module cannot be imported
    or its entry point is not callable. ``register`` adds or overrides a kind in process (tests,
    embedded plugins); it wins over an entry point of the same name.
    """

    def __init__(self, points: Iterable[EntryPoint] | None = None) -> None:
        found = entry_points(group=ENTRY_POINT_GROUP) if points is None else points
        self._points: dict[str, EntryPoint] = {point.name: point for point in found}
        self._loaded: dict[str, AdapterFactory] = {}

    def kinds(self) -> list[str]:
        """Every kind that has a factory or an entry point, sorted."""
        return sorted({*self._points, *self._loaded})

    def register(self, kind: str, factory: AdapterFactory) -> None:
        self._loaded[kind] = factory

    def factory(self, kind: str) -> AdapterFactory:
        loaded = self._loaded.get(kind)
        if loaded is not None:
            return loaded
        point = self._points.get(kind)
        if point is None:
            raise NotFound(
                f"no adapter for provider kind {kind!r}; known: {', '.join(self.kinds())}",
                code="provider.unknown_kind",
            )
        factory = _load(point)
        self._loaded[kind] = factory
        return factory


def _load(point: EntryPoint) -> AdapterFactory:
    try:
        factory = point.load()
    except (ImportError, AttributeError) as exc:
        raise Unavailable(
            f"the adapter of provider kind {point.name!r} ({point.value}) cannot be loaded: "
            f"{type(exc).__name__}: {exc}",
            code="provider.adapter_unavailable",
            kind=point.name,
        ) from exc
    if not callable(factory):
        raise Unavailable(
            f"the entry point of provider kind {point.name!r} ({point.value}) is not callable",
            code="provider.adapter_unavailable",
            kind=point.name,
        )
    result: AdapterFactory = factory
    return result
