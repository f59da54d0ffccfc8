"""Secrets encrypted at rest (provider credentials): Fernet under a key derived from the hub's
secret, so the database alone never yields them.

The key is derived with HKDF-SHA256 (RFC 5869) from the hub's signing secret and a purpose
label: the same secret gives independent keys for different purposes, and a token signed with
the secret tells nothing about the encryption key. Every sealed value is stored with its key id,
so a rotated secret can be told apart from a corrupt value and previous secrets can still open
old values until they are re-sealed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from infinity_matrix.errors import Unavailable

__all__ = ["PROVIDER_CREDENTIALS", "SecretBox"]

PROVIDER_CREDENTIALS = b"imx provider credentials v1"
_MIN_SECRET_BYTES = 32


class SecretBox:
    """Seals and opens short secrets with a key derived from ``secret`` for ``purpose``.

    ``previous`` are secrets used before a rotation: ``open`` tries them after the current one.
    ``open`` raises ``Unavailable`` (``secret.wrong_key``) when no key opens the value: the hub's
    secret changed, or the value was altered.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        purpose: bytes = PROVIDER_CREDENTIALS,
        previous: Sequence[bytes] = (),
    ) -> None:
        if len(secret) < _MIN_SECRET_BYTES:
            raise ValueError(f"the secret must hold at least {_MIN_SECRET_BYTES} bytes")
        keys = [_derive(s, purpose) for s in (secret, *previous)]
        self._fernets = {_key_id(key): Fernet(key) for key in keys}  # current first
        self.key_id = _key_id(keys[0])

    def seal(self, plaintext: str) -> str:
        """The encrypted, authenticated form of ``plaintext`` (URL-safe ASCII)."""
        return self._fernets[self.key_id].encrypt(plaintext.encode()).decode("ascii")

    def open(self, token: str, key_id: str | None = None) -> str:
        """The plaintext sealed in ``token``; ``key_id`` (as stored with it) picks the key."""
        order = sorted(self._fernets, key=lambda known: known != key_id)  # stable: current next
        for fernet in (self._fernets[known] for known in order):
            try:
                return fernet.decrypt(token.encode("ascii")).decode()
            except (InvalidToken, UnicodeError):
                continue
        raise Unavailable(
            "a stored secret cannot be decrypted: the hub's secret key changed since it was "
            "stored (configure the credential again, or start the hub with its former secret)",
            code="secret.wrong_key",
            key_id=key_id,
        )

    def knows(self, key_id: str) -> bool:
        """Whether a value sealed under ``key_id`` can be opened here."""
        return key_id in self._fernets


def _derive(secret: bytes, purpose: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose)
    return base64.urlsafe_b64encode(hkdf.derive(secret))


def _key_id(key: bytes) -> str:
    # A digest of the derived key names it without revealing anything usable about it.
    return hashlib.sha256(b"imx key id\x00" + key).hexdigest()[:16]
