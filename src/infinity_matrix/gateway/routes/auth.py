"""Signing in: password → access + refresh token, rotation, sign-out, and who am I."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response, status

from infinity_matrix.gateway.deps import HubDep, PrincipalDep
from infinity_matrix.gateway.schemas import Login, RefreshToken
from infinity_matrix.security.identity import TokenPair

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def _tokens(pair: TokenPair) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "token_type": "bearer",
        "access_token": pair.access_token,
        "expires_in": int((pair.access_expires_at - now).total_seconds()),
        "refresh_token": pair.refresh_token,
        "refresh_expires_in": int((pair.refresh_expires_at - now).total_seconds()),
    }


@router.post("/token")
async def login(body: Login, request: Request, hub: HubDep) -> dict[str, Any]:
    """Exchange a username and password for a short-lived access token and a refresh token."""
    client = request.client.host if request.client else "unknown"
    # Limit guesses per account and per address: neither alone stops a spread-out attack.
    await hub.login_limiter.hit("user", body.username.lower())
    await hub.login_limiter.hit("addr", client)
    return _tokens(await hub.identity.login(body.username, body.password))


@router.post("/refresh")
async def refresh(body: RefreshToken, hub: HubDep) -> dict[str, Any]:
    """Spend a refresh token for a new pair; reusing a spent one revokes the whole session."""
    return _tokens(await hub.identity.refresh(body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshToken, hub: HubDep) -> Response:
    await hub.identity.logout(body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me")
async def me(principal: PrincipalDep) -> dict[str, Any]:
    return {
        "id": principal.id,
        "kind": principal.kind,
        "name": principal.name,
        "is_admin": principal.is_admin,
        "workspace": principal.workspace,
        "role": principal.role.value if principal.role else None,
    }
