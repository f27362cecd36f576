"""FastAPI dependencies shared by the routers.

Why the trivial ones are ``async def``: FastAPI runs every *sync* dependency in the thread
pool, one hand-off each (and a sync generator, two). A command used to cross threads seven
times before its endpoint ran; these do no I/O (a Session connects only when first used),
so they run on the event loop. :func:`api.auth.authenticate` queries the database and stays
in the pool, like the endpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from sqlmodel import Session

from api.auth import Principal, authenticate
from api.commands.claims import CommandContext
from api.runtime import Runtime


async def runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def db(request: Request) -> AsyncIterator[Session]:
    with Session(request.app.state.runtime.engine, expire_on_commit=False) as session:
        yield session


async def read_db(request: Request) -> AsyncIterator[Session]:
    """A session for endpoints that only read (:func:`api.db.read_only`)."""
    with Session(request.app.state.runtime.read_engine, expire_on_commit=False) as session:
        yield session


#: a command's id in a path (its row: a waiting command's, or any of the caller's)
CommandId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the command's id")]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Same key, same result: the command is executed at most once.",
    ),
]


async def command_context(
    request: Request,
    principal: Principal = Depends(authenticate),  # noqa: B008
    idempotency_key: IdempotencyKey = None,
) -> CommandContext:
    """The caller of a command, counted against its organization's rate limit (429
    before anything is journaled: :mod:`api.ratelimit`). The duty its key needs is the
    command's to check: a chain command the maker's (:meth:`CommandRunner.run_chain
    <api.commands.runner.CommandRunner.run_chain>`), a key or the approval policy the
    admin's."""
    request.app.state.runtime.limits.check(principal)
    return CommandContext(principal, idempotency_key)


RuntimeDep = Annotated[Runtime, Depends(runtime)]
SessionDep = Annotated[Session, Depends(db)]
ReadSessionDep = Annotated[Session, Depends(read_db)]
