"""FastAPI dependencies: the hub, the authenticated and rate-limited principal, request headers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from infinity_matrix.hub import Hub
from infinity_matrix.security.principals import Principal
from infinity_matrix.security.ratelimit import rate_limit_headers

_bearer = HTTPBearer(auto_error=False, description="An API key (imx_…) or an access token")


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


async def get_principal(
    request: Request,
    response: Response,
    hub: HubDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticate the bearer credential, then count the request against its principal."""
    principal = await hub.authenticator.authenticate(
        credentials.credentials if credentials else None
    )
    state = await hub.rate_limiter.hit("api", principal.id)
    response.headers.update(rate_limit_headers(state))
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Repeat a write with the same key to get the first answer; nothing is appended",
    ),
]

SOURCE_HEADER = "X-Imx-Source"
Source = Annotated[
    str | None,
    Header(alias=SOURCE_HEADER, max_length=200, description="Which client or assistant writes"),
]
