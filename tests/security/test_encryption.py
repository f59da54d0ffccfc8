"""Secrets sealed at rest open with the hub's secret, and with nothing else."""

from __future__ import annotations

import pytest

from infinity_matrix.errors import Unavailable
from infinity_matrix.security.encryption import SecretBox

SECRET = b"s" * 64
OTHER = b"o" * 64
API_KEY = "sk-test-0123456789abcdef"


def test_a_sealed_secret_opens_to_what_was_sealed() -> None:
    box = SecretBox(SECRET)
    token = box.seal(API_KEY)
    assert API_KEY not in token
    assert box.open(token, box.key_id) == API_KEY
    assert SecretBox(SECRET).open(token) == API_KEY


def test_sealing_twice_gives_different_tokens() -> None:
    box = SecretBox(SECRET)
    assert box.seal(API_KEY) != box.seal(API_KEY)


def test_a_box_with_another_secret_refuses_to_open_with_a_clear_code() -> None:
    token = SecretBox(SECRET).seal(API_KEY)
    with pytest.raises(Unavailable) as info:
        SecretBox(OTHER).open(token)
    assert info.value.code == "secret.wrong_key"


def test_an_altered_token_is_refused() -> None:
    box = SecretBox(SECRET)
    token = box.seal(API_KEY)
    altered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(Unavailable) as info:
        box.open(altered)
    assert info.value.code == "secret.wrong_key"


def test_the_key_id_names_the_secret_and_purpose_without_revealing_them() -> None:
    box = SecretBox(SECRET)
    assert box.key_id == SecretBox(SECRET).key_id
    assert box.key_id != SecretBox(OTHER).key_id
    assert box.key_id != SecretBox(SECRET, purpose=b"another purpose").key_id
    assert SECRET.decode()[:8] not in box.key_id


def test_a_different_purpose_derives_an_independent_key() -> None:
    token = SecretBox(SECRET, purpose=b"one").seal(API_KEY)
    with pytest.raises(Unavailable):
        SecretBox(SECRET, purpose=b"two").open(token)


def test_after_a_rotation_old_values_open_with_the_previous_secret() -> None:
    old = SecretBox(OTHER)
    token = old.seal(API_KEY)
    rotated = SecretBox(SECRET, previous=[OTHER])
    assert rotated.key_id == SecretBox(SECRET).key_id
    assert rotated.knows(old.key_id)
    assert rotated.open(token, old.key_id) == API_KEY
    assert rotated.open(rotated.seal(API_KEY)) == API_KEY


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        SecretBox(b"short")
