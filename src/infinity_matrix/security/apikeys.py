"""API keys: ``imx_<id>_<secret>`` tokens, shown once and stored only as a hash.

The ``id`` (12 lowercase letters and digits) is not secret: it names the key in lists and
events and lets the authenticator find the stored hash without scanning every key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass

from infinity_matrix.errors import InvalidInput
from infinity_matrix.security.tokens import hash_token

__all__ = [
    "MIN_BOOTSTRAP_LENGTH",
    "NewApiKey",
    "from_bootstrap",
    "generate_api_key",
    "key_id_for",
    "looks_like_api_key",
    "parse_api_key",
    "verify_api_key",
]

MIN_BOOTSTRAP_LENGTH = 24
_ID_LENGTH = 12
_ID_ALPHABET = string.ascii_lowercase + string.digits
# The secret of a generated key is hex; an operator's bootstrap token may use any URL-safe
# characters, '_' included, which stays unambiguous because the id has a fixed length.
_KEY_FORM = re.compile(r"imx_([a-z0-9]{12})_([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class NewApiKey:
    """A key just made: ``token`` is shown to its owner once; only ``hash`` is kept."""

    id: str
    token: str
    hash: str


def generate_api_key() -> NewApiKey:
    """A new random key (192-bit secret)."""
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))
    token = f"imx_{key_id}_{secrets.token_hex(24)}"
    return NewApiKey(id=key_id, token=token, hash=hash_token(token))


def parse_api_key(token: str) -> tuple[str, str] | None:
    """``(id, token)`` if ``token`` has the form ``imx_<id>_<secret>``, else None."""
    match = _KEY_FORM.fullmatch(token)
    return (match.group(1), token) if match else None


def looks_like_api_key(token: str) -> bool:
    """Whether ``token`` has the form of an API key (so it is not worth trying as a JWT)."""
    return parse_api_key(token) is not None


def verify_api_key(token: str, stored_hash: str) -> bool:
    """Whether ``token`` is the key stored as ``stored_hash``, compared in constant time."""
    return hmac.compare_digest(hash_token(token).encode(), stored_hash.encode())


def key_id_for(token: str) -> str | None:
    """The id under which ``token`` would be stored, for either form of key, or None.

    A bootstrap token not of the ``imx_`` form has an id derived from its hash.
    """
    parsed = parse_api_key(token)
    if parsed is not None:
        return parsed[0]
    if len(token) >= MIN_BOOTSTRAP_LENGTH:
        return hashlib.sha256(token.encode()).hexdigest()[:_ID_LENGTH]
    return None


def from_bootstrap(token: str) -> NewApiKey:
    """The key for an operator-chosen ``IMX_BOOTSTRAP_TOKEN``.

    Raises ``InvalidInput`` (``key.invalid_bootstrap``) if it has fewer than 24 characters.
    """
    key_id = key_id_for(token) if len(token) >= MIN_BOOTSTRAP_LENGTH else None
    if key_id is None:
        raise InvalidInput(
            f"IMX_BOOTSTRAP_TOKEN needs at least {MIN_BOOTSTRAP_LENGTH} characters",
            code="key.invalid_bootstrap",
        )
    return NewApiKey(id=key_id, token=token, hash=hash_token(token))
