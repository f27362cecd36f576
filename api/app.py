"""The application factory: ``create_app(settings)`` -> a FastAPI app.

Start-up does, in order: migrate the database, connect to the chain (and deploy the
ledger on a fresh dev chain), register the bootstrap operator key, reconcile commands a
previous process left unfinished, index the chain up to its head (:func:`prepare`), then
start the background work (:class:`api.background.BackgroundWork`; unless
``settings.background`` is off, as in tests, which call their ``step()`` directly).
With several worker processes (``settings.workers``) :func:`prepare` runs once in the
parent before the workers start (:func:`api.server.serve`), and each worker's lifespan only
builds its runtime.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api import body_limits, openapi, openapi_links, portal, wakeup
from api.auth import OPERATOR, ensure_key
from api.background import BackgroundWork, election_for
from api.chain import ChainGateway
from api.commands.runner import CommandRunner
from api.db import is_postgres, make_engine, migrate, read_only
from api.headers import SecurityHeaders
from api.indexer import Indexer
from api.jobs import MaturityJob
from api.models import Organization
from api.notifier import Notifier
from api.problems import install_handlers
from api.ratelimit import RateLimiter
from api.refusals import RefusalAuditMiddleware, RefusalLog
from api.routes import (
    admin,
    approvals,
    bids,
    certificates,
    commands,
    documents,
    financing,
    fragments,
    notifications,
    organizations,
    payables,
    people,
    reports,
)
from api.runtime import Runtime
from api.settings import Settings
from api.webhooks import WebhookSender

log = logging.getLogger(__name__)


def build_runtime(settings: Settings) -> Runtime:
    """Everything but the HTTP layer (also used by scripts and tests)."""
    engine = make_engine(settings)
    migrate(engine)
    # on PostgreSQL the keys, nonce counters and manifest are the database's (api.chain)
    gateway = ChainGateway(settings, engine)
    reads = read_only(engine)
    indexer = Indexer(
        engine,
        gateway.ledger,
        signals=wakeup.signals_for(settings, engine, reads),
        read_engine=reads,
    )
    # other processes (workers; on PostgreSQL, other instances) may serve the database
    shared = settings.several_workers or is_postgres(engine)
    runner = CommandRunner(
        engine,
        gateway,
        indexer=indexer,
        read_engine=reads,
        # another process's command is only taken over once it cannot be running any more
        resume_after=settings.tx_timeout + 30 if shared else None,
        approval_window=settings.approval_window,
        signature_window=settings.signature_window,
    )
    maturity = MaturityJob(engine, gateway, indexer, page_size=settings.payout_page_size)
    runtime = Runtime(
        settings=settings,
        engine=engine,
        read_engine=reads,
        gateway=gateway,
        runner=runner,
        indexer=indexer,
        maturity=maturity,
        document_key=settings.document_key_bytes(),
        invoice_secret=settings.invoice_secret_bytes(),
        limits=RateLimiter.for_settings(settings, engine),
        refusals=RefusalLog(
            engine, window=settings.refusal_window, max_sources=settings.refusal_sources
        ),
        notifier=Notifier(engine, gateway.block_time),
        webhooks=WebhookSender(engine, settings, settings.document_key_bytes()),
    )
    _bootstrap_operator(runtime)
    return runtime


def _bootstrap_operator(rt: Runtime) -> None:
    """The operator's organization and its bootstrap key, made once. Instances started at
    once on one database (PostgreSQL, several machines) both find neither and both insert:
    the unique address and key hash let one commit, and the other, refused, reads what the
    first made (tests/api/test_scale_out.py starts two at once)."""
    for attempt in range(3):
        try:
            _bootstrap_once(rt)
            return
        except IntegrityError:
            if attempt == 2:
                raise
            log.info("another instance made the operator's rows at the same moment: reading them")


def _bootstrap_once(rt: Runtime) -> None:
    with Session(rt.engine) as session:
        operator = session.exec(select(Organization).where(Organization.role == OPERATOR)).first()
        if operator is None:
            operator = Organization(
                name="Platform operator",
                role=OPERATOR,
                address=rt.gateway.operator.address,
                status="active",
            )
            session.add(operator)
            session.commit()
            session.refresh(operator)
        key = rt.settings.bootstrap_operator_api_key
        if key is not None and key.get_secret_value():
            assert operator.id is not None
            ensure_key(session, operator.id, key.get_secret_value(), "bootstrap")
            session.commit()
        else:
            log.warning("no SCF_OPERATOR_API_KEY: no operator can log in until one is set")


def prepare(settings: Settings) -> Runtime:
    """Start-up work done once per server, before any request: the runtime built (which
    migrates and deploys), the shared nonce counters re-read from the node (nothing else
    of this server is sending yet), unfinished commands reconciled, the chain indexed.

    On PostgreSQL other instances may be serving the database meanwhile, on other
    machines: the nonce counters are theirs too and stay (an instance's node may lag
    another's, so its pending count is no truth to reset them to; a gap left by a lost
    transaction is filled when its command's journaled bytes are sent again), commands
    are reconciled as one of several (:meth:`~api.commands.recovery.Recovery.reconcile`),
    and the chain is indexed only if no other instance indexes it now (the read model
    has one writer: :mod:`api.background`)."""
    runtime = build_runtime(settings)
    if not is_postgres(runtime.engine):
        runtime.gateway.nonces.reset()
        _reconcile(runtime, alone=True)
        runtime.indexer.catch_up()
        return runtime
    election = election_for(settings, runtime)
    if election.try_acquire():  # the read model's writer while it holds this
        try:
            _reconcile(runtime, alone=False)  # a resumed command may step the projector
            runtime.indexer.catch_up()
        finally:
            election.release()
        return runtime
    # another instance indexes: a resumed command waits for its block by watching
    stop = threading.Event()
    watcher = threading.Thread(
        target=runtime.indexer.watch, args=(stop,), name="indexer-watch", daemon=True
    )
    watcher.start()
    while not runtime.indexer.in_background and watcher.is_alive():
        time.sleep(0.01)  # so that a resumed command waits rather than steps
    try:
        _reconcile(runtime, alone=False)
    finally:
        stop.set()
        watcher.join(5.0)
    return runtime


def _reconcile(runtime: Runtime, *, alone: bool) -> None:
    counts = runtime.runner.recovery.reconcile(alone=alone)
    if any(counts.values()):
        log.info("reconciled unfinished commands: %s", counts)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; without ``settings``, from the ``SCF_*`` environment (how uvicorn's worker
    processes build theirs)."""
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Endpoints are synchronous and mostly wait on the node: anyio's default of 40
        # threads queued the 41st concurrent request behind the others' chain round trips.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        # a worker process: the parent did the start-up work (api.server.serve)
        start = build_runtime if settings.several_workers else prepare
        runtime = await asyncio.to_thread(start, settings)
        app.state.runtime = runtime
        background = None
        if settings.background:
            # with several workers, api.server runs a dedicated indexing process; a
            # worker takes over only if that one is gone
            background = BackgroundWork(
                runtime, first_claim_after=10.0 if settings.several_workers else 0.0
            )
            background.start()
        app.state.background = background
        try:
            yield
        finally:
            if background is not None:
                await asyncio.to_thread(background.stop)
            await asyncio.to_thread(runtime.refusals.stop)  # the last window's counts
            runtime.engine.dispose()

    app = FastAPI(
        title="Supply-chain finance ledger API",
        version="0.1.0",
        description=(
            "Digital credit certificates (电子债权凭证) on an EVM ledger: issue, accept, split, "
            "transfer, finance, repay. Amounts are strings of whole fen. Every command "
            "accepts an Idempotency-Key; every refusal is an RFC 9457 problem document, "
            "and is recorded in the audit log.\n\n"
            "**Who may see and act (one rule on every endpoint).** 401 without a valid "
            "key; 403 `wrong_role` when your role may never do this (it depends on who "
            "you are, never on the record); 404 `unknown_<kind>` when the record does not "
            "exist *or your organization may not see it* (so ids cannot be probed: another "
            "organization's record and a missing one answer alike, on reads and commands); "
            "only then 403 with the ledger's reason (`not_holder`, `not_issuer`, ...) when "
            "you see the record but are not the party who may act on it.\n\n"
            "**Limits.** Commands are limited per organization (429 `rate_limited` with "
            "`Retry-After`; nothing is recorded, retry with the same Idempotency-Key), "
            "documents by a per-organization quota (409 `storage_quota_exceeded`), splits "
            "by a minimum amount (422 `split_below_minimum`). See docs/api.md."
        ),
        lifespan=lifespan,
    )
    install_handlers(app)
    body_limits.install(app, settings)  # first: the middleware added after it sees its refusals
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RefusalAuditMiddleware)
    for module in (
        admin,
        organizations,
        people,
        documents,
        certificates,
        payables,
        fragments,
        financing,
        bids,
        reports,
        approvals,
        commands,
        notifications,
    ):
        app.include_router(module.router)
    portal.install(app)
    # last: it wraps the document whatever else post-processes it
    openapi.install(app)  # the problem responses and the bearer scheme
    openapi_links.install(app)
    return app
