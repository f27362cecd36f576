"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlmodel import Session

from api.auth import Principal, authenticate
from api.idempotency import CommandContext
from api.runtime import Runtime


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def db(request: Request) -> Iterator[Session]:
    with Session(request.app.state.runtime.engine, expire_on_commit=False) as session:
        yield session


IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=200,
           description="Same key, same result: the command is executed at most once."),
]


def command_context(
    principal: Principal = Depends(authenticate),  # noqa: B008
    idempotency_key: IdempotencyKey = None,
) -> CommandContext:
    return CommandContext(principal, idempotency_key)


RuntimeDep = Annotated[Runtime, Depends(runtime)]
SessionDep = Annotated[Session, Depends(db)]
