import pytest

from infinity_matrix.errors import InvalidInput
from infinity_matrix.security.passwords import PasswordHasher, validate_password


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=64)


def test_a_hash_verifies_its_own_password(hasher: PasswordHasher) -> None:
    hashed = hasher.hash("correct horse")
    assert hashed.startswith("$argon2id$")
    assert hasher.verify(hashed, "correct horse") is True


def test_a_wrong_password_is_rejected_without_raising(hasher: PasswordHasher) -> None:
    assert hasher.verify(hasher.hash("correct horse"), "correct horsf") is False


@pytest.mark.parametrize("bad_hash", ["", "not a hash", "$argon2id$v=19$m=64,t=1,p=4$YWJj"])
def test_an_unreadable_hash_verifies_nothing(hasher: PasswordHasher, bad_hash: str) -> None:
    assert hasher.verify(bad_hash, "correct horse") is False


def test_hashing_the_same_password_twice_gives_different_salts(hasher: PasswordHasher) -> None:
    assert hasher.hash("correct horse") != hasher.hash("correct horse")


def test_a_hash_made_with_other_costs_needs_rehash(hasher: PasswordHasher) -> None:
    stronger = PasswordHasher(time_cost=2, memory_cost=64)
    hashed = hasher.hash("correct horse")
    assert hasher.needs_rehash(hashed) is False
    assert stronger.needs_rehash(hashed) is True
    assert hasher.needs_rehash("not a hash") is True


def test_a_dummy_verify_runs_for_any_password_without_raising(hasher: PasswordHasher) -> None:
    hasher.verify_dummy("whatever it is")
    hasher.verify_dummy("")


def test_the_default_costs_are_the_rfc_9106_low_memory_profile() -> None:
    hashed = PasswordHasher().hash("correct horse")
    assert "$v=19$m=65536,t=3,p=4$" in hashed


@pytest.mark.parametrize("password", ["", "1234567", "short"])
def test_a_password_under_eight_characters_is_weak(password: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_password(password)
    assert info.value.code == "user.weak_password"


def test_a_password_of_eight_characters_is_accepted() -> None:
    validate_password("12345678")
