"""Every error reaching the app comes out as problem+json with the right status and code."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from structlog.testing import capture_logs

from infinity_matrix import errors
from infinity_matrix.core.providers import errors as provider_errors
from infinity_matrix.gateway.problems import (
    PROBLEM_MEDIA_TYPE,
    STATUS_BY_ERROR,
    install_problem_handlers,
    status_for,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Body(BaseModel):
    name: str
    count: int


class _WorkspaceMissing(errors.NotFound):
    code = "workspace.not_found"


def _app(exc: Exception) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    @app.post("/items")
    async def create(body: _Body) -> dict[str, str]:
        return {"name": body.name}

    return app


async def _call(app: FastAPI, method: str, path: str, **kwargs: object) -> httpx.Response:
    # raise_app_exceptions=False: Starlette re-raises after its 500 handler has answered.
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (errors.InvalidInput("bad", code="context.invalid_key"), 422, "context.invalid_key"),
        (errors.TooLarge("big"), 413, "request.too_large"),
        (errors.Unauthenticated("who?"), 401, "auth.unauthenticated"),
        (errors.Forbidden("no"), 403, "auth.forbidden"),
        (errors.NotFound("gone", code="context.not_found"), 404, "context.not_found"),
        (errors.Conflict("clash", code="workspace.exists"), 409, "workspace.exists"),
        (errors.RateLimited("slow down", retry_after=7), 429, "rate.limited"),
        (errors.Unavailable("down"), 503, "storage.unavailable"),
    ],
)
async def test_each_error_class_answers_its_status_and_code_as_problem_json(
    exc: errors.InfinityMatrixError, status: int, code: str
) -> None:
    response = await _call(_app(exc), "GET", "/boom")

    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == f"urn:imx:problem:{code}"
    assert body["status"] == status
    assert body["code"] == code
    assert body["detail"] == exc.detail
    assert isinstance(body["title"], str)


def test_every_error_class_in_the_tree_has_a_status() -> None:
    direct = set(errors.InfinityMatrixError.__subclasses__())
    assert direct <= set(STATUS_BY_ERROR)
    assert all(issubclass(cls, errors.InfinityMatrixError) for cls in STATUS_BY_ERROR)


def test_a_providers_failure_is_never_passed_on_as_the_providers_own_status() -> None:
    assert status_for(provider_errors.ProviderAuthError("refused")) == 502
    assert status_for(provider_errors.ContextTooLong("too long")) == 422
    assert status_for(provider_errors.ProviderRateLimited("429", retry_after=2)) == 503
    assert status_for(provider_errors.CircuitOpen("open")) == 503
    assert status_for(provider_errors.ProviderTimeout("slow")) == 504
    assert status_for(provider_errors.MalformedResponse("cut")) == 502


def test_a_subclass_maps_like_its_parent_and_the_root_maps_to_500() -> None:
    assert status_for(_WorkspaceMissing("gone")) == 404
    assert status_for(errors.InfinityMatrixError("?")) == 500


@pytest.mark.anyio
async def test_extra_fields_are_added_but_cannot_override_standard_members() -> None:
    exc = errors.Conflict(
        "clash", code="context.kind_conflict", current="json", status=200, headers=1
    )

    body = (await _call(_app(exc), "GET", "/boom")).json()

    assert body["current"] == "json"
    assert body["headers"] == 1
    assert body["status"] == 409


@pytest.mark.anyio
async def test_unauthenticated_challenges_for_a_bearer_token() -> None:
    response = await _call(_app(errors.Unauthenticated("who?")), "GET", "/boom")

    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.anyio
@pytest.mark.parametrize("code", ["auth.invalid_token", "auth.token_expired"])
async def test_a_rejected_token_is_reported_as_invalid_token_per_rfc_6750(code: str) -> None:
    response = await _call(_app(errors.Unauthenticated("no", code=code)), "GET", "/boom")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.anyio
async def test_rate_limited_sets_retry_after_from_the_error() -> None:
    response = await _call(_app(errors.RateLimited("slow", retry_after=7)), "GET", "/boom")

    assert response.headers["retry-after"] == "7"
    assert "ratelimit-limit" not in response.headers


@pytest.mark.anyio
async def test_rate_limited_with_a_known_limit_also_sets_ratelimit_headers() -> None:
    exc = errors.RateLimited("slow", retry_after=3, limit=10)

    response = await _call(_app(exc), "GET", "/boom")

    assert response.headers["retry-after"] == "3"
    assert response.headers["ratelimit-limit"] == "10"
    assert response.headers["ratelimit-remaining"] == "0"
    assert response.headers["ratelimit-reset"] == "3"


@pytest.mark.anyio
async def test_validation_errors_list_loc_msg_type_without_echoing_input() -> None:
    secret = "hunter2-hunter2"

    response = await _call(
        _app(RuntimeError()), "POST", "/items", json={"name": secret, "count": secret}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["code"] == "request.invalid"
    assert body["errors"] == [
        {"loc": ["body", "count"], "msg": body["errors"][0]["msg"], "type": "int_parsing"}
    ]
    assert secret not in response.text


@pytest.mark.anyio
async def test_an_unknown_route_is_route_not_found() -> None:
    response = await _call(_app(RuntimeError()), "GET", "/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["code"] == "route.not_found"


@pytest.mark.anyio
async def test_a_wrong_method_is_method_not_allowed_and_keeps_the_allow_header() -> None:
    response = await _call(_app(RuntimeError()), "DELETE", "/items")

    assert response.status_code == 405
    assert response.json()["code"] == "route.method_not_allowed"
    assert response.headers["allow"] == "POST"


@pytest.mark.anyio
async def test_other_http_exceptions_get_a_code_derived_from_their_status() -> None:
    response = await _call(_app(HTTPException(status_code=418)), "GET", "/boom")

    assert response.status_code == 418
    assert response.json()["code"] == "http.418"


@pytest.mark.anyio
async def test_a_structured_http_exception_detail_is_kept_as_data() -> None:
    exc = HTTPException(status_code=400, detail={"field": "name"})

    body = (await _call(_app(exc), "GET", "/boom")).json()

    assert (body["code"], body["details"]) == ("http.400", {"field": "name"})
    assert isinstance(body["detail"], str)


@pytest.mark.anyio
async def test_an_unexpected_exception_is_a_500_that_leaks_nothing_but_logs_the_stack() -> None:
    exc = RuntimeError("db password is hunter2")

    with capture_logs() as logs:
        response = await _call(_app(exc), "GET", "/boom")

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["code"] == "internal"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert [(log["log_level"], log["exc_info"]) for log in logs] == [("error", exc)]
