"""Password hashing with Argon2id, and the rule a new password must meet."""

from __future__ import annotations

import dataclasses
import secrets

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from infinity_matrix.errors import InvalidInput

__all__ = ["MIN_PASSWORD_LENGTH", "PasswordHasher", "validate_password"]

MIN_PASSWORD_LENGTH = 8


def validate_password(password: str) -> None:
    """Raise ``InvalidInput`` (``user.weak_password``) if ``password`` is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
            code="user.weak_password",
        )


class PasswordHasher:
    """Hashes and verifies passwords; never raises for a wrong password or a corrupt hash.

    Defaults are argon2-cffi's RFC 9106 low-memory profile (Argon2id, t=3, m=64 MiB, p=4);
    tests pass small costs for speed.
    """

    def __init__(self, *, time_cost: int | None = None, memory_cost: int | None = None) -> None:
        params = argon2.profiles.RFC_9106_LOW_MEMORY
        if time_cost is not None:
            params = dataclasses.replace(params, time_cost=time_cost)
        if memory_cost is not None:
            params = dataclasses.replace(params, memory_cost=memory_cost)
        self._hasher = argon2.PasswordHasher.from_parameters(params)
        # Built once so verify_dummy costs exactly what a real verify with these costs costs.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """A fresh salted hash of ``password`` in the PHC string format."""
        return self._hasher.hash(password)

    def verify(self, hash: str, password: str) -> bool:
        """Whether ``password`` matches ``hash``; False on mismatch or an unreadable hash."""
        try:
            return self._hasher.verify(hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hash: str) -> bool:
        """Whether ``hash`` was made with other parameters (or is unreadable) and should be
        replaced by ``self.hash(password)`` after a successful ``verify``."""
        try:
            return self._hasher.check_needs_rehash(hash)
        except InvalidHashError:
            return True

    def verify_dummy(self, password: str) -> None:
        """Spend the time of one real ``verify``, so an unknown username looks like a wrong
        password to anyone timing the response."""
        self.verify(self._dummy_hash, password)
