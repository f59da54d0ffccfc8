"""Request bodies of the REST API (responses are plain JSON built by the records' ``to_json``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PutContext(Body):
    text: str | None = None
    data: dict[str, Any] | None = None
    tags: list[str] | None = Field(default=None, max_length=32)


class CreateWorkspace(Body):
    id: str = Field(max_length=63)
    name: str | None = Field(default=None, max_length=200)


class SetMember(Body):
    role: str


class CreateKey(Body):
    name: str = Field(max_length=200)
    role: str
    expires_in_days: int | None = None


class Login(Body):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class RefreshToken(Body):
    refresh_token: str = Field(max_length=512)


class CreateUser(Body):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    is_admin: bool = False
