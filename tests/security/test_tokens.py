import base64
import hashlib
import json
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from infinity_matrix.errors import InvalidInput, Unauthenticated
from infinity_matrix.security.tokens import (
    AccessClaims,
    TokenIssuer,
    hash_token,
    load_or_create_secret,
    new_refresh_token,
)

SECRET = b"s" * 64
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def issuer(clock: Clock, secret: bytes = SECRET, **kwargs: Any) -> TokenIssuer:
    return TokenIssuer(secret, access_ttl=TTL, clock=clock, **kwargs)


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def sign(claims: dict[str, Any], secret: bytes = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


def assert_invalid(tokens: TokenIssuer, token: str) -> None:
    with pytest.raises(Unauthenticated) as info:
        tokens.verify_access(token)
    assert info.value.code == "auth.invalid_token"


def test_an_issued_access_token_verifies_to_its_claims() -> None:
    tokens = issuer(Clock(T0))
    token, expires_at = tokens.issue_access("alice", is_admin=True)
    claims = tokens.verify_access(token)
    assert expires_at == T0 + TTL
    assert claims == AccessClaims(
        subject="alice", token_id=claims_of(token)["jti"], expires_at=T0 + TTL, is_admin=True
    )
    assert claims_of(token)["typ"] == "access"


def test_each_access_token_has_its_own_id() -> None:
    tokens = issuer(Clock(T0))
    first, _ = tokens.issue_access("alice", is_admin=False)
    second, _ = tokens.issue_access("alice", is_admin=False)
    assert tokens.verify_access(first).token_id != tokens.verify_access(second).token_id


def test_an_access_token_past_expiry_and_leeway_is_expired() -> None:
    clock = Clock(T0)
    tokens = issuer(clock)
    token, _ = tokens.issue_access("alice", is_admin=False)
    clock.now = T0 + TTL + timedelta(seconds=9)
    assert tokens.verify_access(token).subject == "alice"  # within the 10 s leeway
    clock.now = T0 + TTL + timedelta(seconds=10)
    with pytest.raises(Unauthenticated) as info:
        tokens.verify_access(token)
    assert info.value.code == "auth.token_expired"


def test_an_access_token_issued_in_the_future_is_invalid() -> None:
    clock = Clock(T0 + timedelta(hours=1))
    token, _ = issuer(clock).issue_access("alice", is_admin=False)
    assert_invalid(issuer(Clock(T0)), token)


def test_a_tampered_access_token_is_invalid() -> None:
    tokens = issuer(Clock(T0))
    token, _ = tokens.issue_access("alice", is_admin=False)
    header, payload, signature = token.split(".")
    forged_claims = {**claims_of(token), "sub": "mallory", "adm": True}
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged_claims).encode())
    assert_invalid(tokens, f"{header}.{forged_payload.decode().rstrip('=')}.{signature}")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert_invalid(tokens, f"{header}.{payload}.{flipped}")


def test_an_access_token_signed_with_another_secret_is_invalid() -> None:
    token, _ = issuer(Clock(T0), secret=b"o" * 64).issue_access("alice", is_admin=False)
    assert_invalid(issuer(Clock(T0)), token)


def test_an_access_token_for_another_audience_or_issuer_is_invalid() -> None:
    tokens = issuer(Clock(T0))
    other_audience, _ = issuer(Clock(T0), audience="elsewhere").issue_access("a", is_admin=False)
    other_issuer, _ = issuer(Clock(T0), issuer="elsewhere").issue_access("a", is_admin=False)
    assert_invalid(tokens, other_audience)
    assert_invalid(tokens, other_issuer)


def test_an_unsigned_token_with_alg_none_is_invalid() -> None:
    tokens = issuer(Clock(T0))
    token, _ = tokens.issue_access("alice", is_admin=True)
    unsigned = jwt.encode(claims_of(token), key=None, algorithm="none")
    assert_invalid(tokens, unsigned)


def test_a_signed_token_that_is_not_an_access_token_is_invalid() -> None:
    tokens = issuer(Clock(T0))
    token, _ = tokens.issue_access("alice", is_admin=False)
    claims = claims_of(token)
    assert tokens.verify_access(sign(claims)).subject == "alice"  # the control
    assert_invalid(tokens, sign({**claims, "typ": "refresh"}))
    assert_invalid(tokens, sign({k: v for k, v in claims.items() if k != "typ"}))
    assert_invalid(tokens, sign({**claims, "adm": "yes"}))
    for required in ("exp", "iat", "sub", "jti", "iss", "aud"):
        assert_invalid(tokens, sign({k: v for k, v in claims.items() if k != required}))


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "imx_abcdefghijkl_0123"])
def test_a_malformed_access_token_is_invalid(token: str) -> None:
    assert_invalid(issuer(Clock(T0)), token)


def test_a_signing_secret_shorter_than_32_bytes_is_refused() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- a programming error, it has no code
        TokenIssuer(b"x" * 31, access_ttl=TTL)


def test_refresh_tokens_are_random_and_stored_as_their_sha256() -> None:
    first, second = new_refresh_token(), new_refresh_token()
    assert first.startswith("imxr_")
    assert second.startswith("imxr_")
    assert first != second
    assert hash_token(first) == hashlib.sha256(first.encode()).hexdigest()
    assert hash_token(first) != hash_token(second)


def test_the_secret_file_is_created_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "home" / "jwt.secret"
    secret = load_or_create_secret(path)
    assert len(secret) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(path) == secret
    assert sorted(p.name for p in path.parent.iterdir()) == ["jwt.secret"]


def test_an_existing_secret_file_is_read_not_replaced(tmp_path: Path) -> None:
    hex_file, raw_file = tmp_path / "hex", tmp_path / "raw"
    hex_file.write_text("ab" * 40 + "\n")
    raw_file.write_bytes(bytes(range(200, 240)))
    assert load_or_create_secret(hex_file) == b"\xab" * 40
    assert load_or_create_secret(raw_file) == bytes(range(200, 240))


def test_a_secret_file_with_too_little_secret_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jwt.secret"
    path.write_text("ab" * 16)
    with pytest.raises(InvalidInput) as info:
        load_or_create_secret(path)
    assert info.value.code == "secret.invalid"


def test_concurrent_creators_all_get_the_one_secret_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "jwt.secret"
    start = threading.Barrier(8)
    results: list[bytes] = []

    def create() -> None:
        start.wait(timeout=10)
        results.append(load_or_create_secret(path))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 8
    assert set(results) == {load_or_create_secret(path)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jwt.secret"]
