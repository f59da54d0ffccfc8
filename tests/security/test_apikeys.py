import hashlib

import pytest

from infinity_matrix.errors import InvalidInput
from infinity_matrix.security.apikeys import (
    from_bootstrap,
    generate_api_key,
    key_id_for,
    looks_like_api_key,
    parse_api_key,
    verify_api_key,
)
from infinity_matrix.security.tokens import hash_token


def test_a_new_key_parses_back_to_its_id_and_verifies_against_its_hash() -> None:
    key = generate_api_key()
    assert len(key.id) == 12
    assert key.id.isalnum()
    assert key.id == key.id.lower()
    assert key.token.startswith(f"imx_{key.id}_")
    assert parse_api_key(key.token) == (key.id, key.token)
    assert key_id_for(key.token) == key.id
    assert looks_like_api_key(key.token)
    assert key.hash == hash_token(key.token)
    assert verify_api_key(key.token, key.hash)


def test_new_keys_differ() -> None:
    first, second = generate_api_key(), generate_api_key()
    assert first.id != second.id
    assert first.token != second.token


def test_a_key_with_a_wrong_secret_is_rejected() -> None:
    key = generate_api_key()
    forged = key.token[:-1] + ("0" if key.token[-1] != "0" else "1")
    assert parse_api_key(forged) == (key.id, forged)
    assert not verify_api_key(forged, key.hash)
    assert not verify_api_key(generate_api_key().token, key.hash)


def test_a_non_hex_stored_hash_does_not_raise() -> None:
    assert not verify_api_key(generate_api_key().token, "é")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "imx_",
        "imx_abc_def",
        "imx_ABCDEFGHIJKL_0123456789abcdef",
        "imx_abcdefghijk_0123456789abcdef",
        "imx_abcdefghijklm_0123456789abcdef",
        "imx_abcdefghijkl_",
        "imx_abcdefghijkl_0123456789abcdef\n",
        "imx_abcdefghijkl_01234567 89abcdef",
        "imxr_abcdefghijkl_0123456789abcdef",
        "Bearer imx_abcdefghijkl_0123456789abcdef",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln",
    ],
)
def test_a_malformed_token_is_not_an_api_key(token: str) -> None:
    assert parse_api_key(token) is None
    assert not looks_like_api_key(token)


def test_a_bootstrap_token_of_key_form_keeps_its_id() -> None:
    token = "imx_opsbootstrap_my-chosen_secret-value"
    key = from_bootstrap(token)
    assert (key.id, key.token, key.hash) == ("opsbootstrap", token, hash_token(token))
    assert key_id_for(token) == "opsbootstrap"
    assert verify_api_key(token, key.hash)


def test_a_free_form_bootstrap_token_gets_a_stable_id_from_its_hash() -> None:
    token = "correct horse battery staple"
    key = from_bootstrap(token)
    assert key.id == hashlib.sha256(token.encode()).hexdigest()[:12]
    assert from_bootstrap(token) == key
    assert key_id_for(token) == key.id
    assert verify_api_key(token, key.hash)
    assert not looks_like_api_key(token)


@pytest.mark.parametrize("token", ["", "short", "x" * 23, "imx_abcdefghijkl_123456"])
def test_a_bootstrap_token_under_24_characters_is_refused(token: str) -> None:
    with pytest.raises(InvalidInput) as info:
        from_bootstrap(token)
    assert info.value.code == "key.invalid_bootstrap"


def test_a_short_token_of_no_key_form_has_no_key_id() -> None:
    assert key_id_for("x" * 23) is None
    assert key_id_for("x" * 24) == hashlib.sha256(b"x" * 24).hexdigest()[:12]
