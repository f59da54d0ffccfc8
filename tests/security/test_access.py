import pytest

from infinity_matrix.errors import Forbidden, InvalidInput
from infinity_matrix.security.access import (
    PERMISSIONS,
    Permission,
    Role,
    allows,
    parse_role,
    require,
    require_can_grant,
)
from infinity_matrix.security.principals import Principal

OW, MA, ED, VI = Role.OWNER, Role.MAINTAINER, Role.EDITOR, Role.VIEWER
P = Permission

# The whole table, written out so that a change to it is a visible change to this test.
TABLE = [
    # (permission, allowed for: owner, maintainer, editor, viewer)
    (P.READ, True, True, True, True),
    (P.WRITE, True, True, True, False),
    (P.INVOKE_PROVIDERS, True, True, True, False),
    (P.MANAGE_MEMBERS, True, True, False, False),
    (P.MANAGE_KEYS, True, True, False, False),
    (P.READ_AUDIT, True, True, False, False),
    (P.DELETE_WORKSPACE, True, False, False, False),
    (P.MANAGE_PROVIDERS, True, True, False, False),
]
CASES = [
    (role, row[0], allowed)
    for row in TABLE
    for role, allowed in zip((OW, MA, ED, VI), row[1:], strict=True)
]

# granter, role, allowed
GRANTS = [
    (OW, OW, True), (OW, MA, True), (OW, ED, True), (OW, VI, True),
    (MA, OW, False), (MA, MA, True), (MA, ED, True), (MA, VI, True),
    (ED, OW, False), (ED, MA, False), (ED, ED, True), (ED, VI, True),
    (VI, OW, False), (VI, MA, False), (VI, ED, False), (VI, VI, True),
]  # fmt: skip


def test_the_table_covers_every_role_and_permission() -> None:
    assert set(PERMISSIONS) == set(Role)
    assert {row[0] for row in TABLE} == set(Permission)
    assert len(CASES) == len(Role) * len(Permission)


@pytest.mark.parametrize(("role", "permission", "allowed"), CASES)
def test_a_role_holds_exactly_the_permissions_of_the_table(
    role: Role, permission: Permission, allowed: bool
) -> None:
    assert allows(role, permission) is allowed


@pytest.mark.parametrize(("role", "permission", "allowed"), CASES)
def test_require_raises_forbidden_exactly_when_the_table_says_no(
    role: Role, permission: Permission, allowed: bool
) -> None:
    if allowed:
        require(role, permission)
    else:
        with pytest.raises(Forbidden) as info:
            require(role, permission)
        assert info.value.code == "auth.forbidden"


def test_each_role_includes_itself_and_every_role_below_it() -> None:
    order = [VI, ED, MA, OW]
    for i, higher in enumerate(order):
        for j, lower in enumerate(order):
            assert higher.includes(lower) is (i >= j)


def test_a_higher_role_holds_every_permission_of_a_lower_one() -> None:
    assert PERMISSIONS[VI] < PERMISSIONS[ED] < PERMISSIONS[MA] < PERMISSIONS[OW]


@pytest.mark.parametrize(("granter", "role", "allowed"), GRANTS)
def test_a_principal_grants_only_roles_at_or_below_its_own(
    granter: Role, role: Role, allowed: bool
) -> None:
    if allowed:
        require_can_grant(granter, role)
    else:
        with pytest.raises(Forbidden) as info:
            require_can_grant(granter, role)
        assert info.value.code == "auth.forbidden"


@pytest.mark.parametrize("role", list(Role))
def test_parse_role_reads_each_role_by_its_value(role: Role) -> None:
    assert parse_role(role.value) is role


@pytest.mark.parametrize("value", ["", "admin", "Owner", " viewer", "OWNER"])
def test_parse_role_rejects_an_unknown_role(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_role(value)
    assert info.value.code == "role.invalid"


def test_role_and_permission_values_are_the_wire_strings() -> None:
    assert [r.value for r in Role] == ["owner", "maintainer", "editor", "viewer"]
    assert {p.value for p in Permission} == {
        "workspace.read",
        "context.write",
        "providers.invoke",
        "members.manage",
        "keys.manage",
        "audit.read",
        "workspace.delete",
        "providers.manage",
    }


def test_a_principal_records_its_id_as_actor() -> None:
    user = Principal.user("alice", is_admin=True)
    key = Principal.key("abc123def456", name="ci", workspace="default", role=ED)
    assert user == Principal(id="user:alice", kind="user", name="alice", is_admin=True)
    assert key == Principal(
        id="key:abc123def456", kind="key", name="ci", workspace="default", role=ED
    )
    assert (user.actor, key.actor) == ("user:alice", "key:abc123def456")


@pytest.mark.parametrize(
    "fields",
    [
        {"id": "key:x", "kind": "user", "name": "x"},
        {"id": "user:x", "kind": "user", "name": "x", "workspace": "w", "role": VI},
        {"id": "key:x", "kind": "key", "name": "x"},
        {"id": "key:x", "kind": "key", "name": "x", "workspace": "w"},
    ],
)
def test_a_malformed_principal_cannot_be_built(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- a programming error, it has no code
        Principal(**fields)  # type: ignore[arg-type]
