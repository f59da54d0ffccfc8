"""The adapter registry finds factories by kind through entry points, loads each lazily, and
reports a kind whose module cannot be imported as that kind's error."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from infinity_matrix.core.providers.ports import Adapter
from infinity_matrix.core.providers.records import PROVIDER_KINDS, ProviderConfig
from infinity_matrix.errors import NotFound, Unavailable
from infinity_matrix.providers.registry import ENTRY_POINT_GROUP, AdapterRegistry

NOT_CALLABLE = "a string, not a factory"


def fake_factory(config: ProviderConfig, credential: str | None) -> Adapter:
    raise AssertionError("never called by the registry")


def _point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def test_a_kind_is_loaded_from_its_entry_point_when_first_asked_for() -> None:
    registry = AdapterRegistry([_point("fake", f"{__name__}:fake_factory")])
    assert registry.kinds() == ["fake"]
    assert registry.factory("fake") is fake_factory
    assert registry.factory("fake") is fake_factory


def test_a_kind_whose_module_is_missing_is_reported_only_when_used() -> None:
    registry = AdapterRegistry(
        [
            _point("broken", "infinity_matrix.providers.no_such_module:create"),
            _point("fake", f"{__name__}:fake_factory"),
        ]
    )
    assert registry.kinds() == ["broken", "fake"]
    assert registry.factory("fake") is fake_factory
    with pytest.raises(Unavailable) as info:
        registry.factory("broken")
    assert info.value.code == "provider.adapter_unavailable"
    assert info.value.extra["kind"] == "broken"


def test_an_entry_point_naming_a_missing_or_uncallable_object_is_reported() -> None:
    registry = AdapterRegistry(
        [_point("typo", f"{__name__}:no_such_factory"), _point("str", f"{__name__}:NOT_CALLABLE")]
    )
    for kind in ("typo", "str"):
        with pytest.raises(Unavailable) as info:
            registry.factory(kind)
        assert info.value.code == "provider.adapter_unavailable"


def test_an_unknown_kind_is_not_found() -> None:
    with pytest.raises(NotFound) as info:
        AdapterRegistry([]).factory("telepathy")
    assert info.value.code == "provider.unknown_kind"


def test_a_registered_factory_adds_a_kind_and_wins_over_an_entry_point() -> None:
    def other(config: ProviderConfig, credential: str | None) -> Adapter:
        raise AssertionError

    registry = AdapterRegistry([_point("fake", "infinity_matrix.providers.no_such_module:x")])
    registry.register("fake", other)
    registry.register("plugin", fake_factory)
    assert registry.kinds() == ["fake", "plugin"]
    assert registry.factory("fake") is other
    assert registry.factory("plugin") is fake_factory


def test_the_installed_package_declares_every_built_in_kind() -> None:
    assert set(PROVIDER_KINDS) <= set(AdapterRegistry().kinds())
