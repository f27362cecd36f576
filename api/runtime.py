"""Everything one app instance holds: settings, database, chain gateway, command runner,
indexer and jobs. Built by :func:`api.app.create_app` at start-up, reachable from
requests as ``request.app.state.runtime``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from api.chain import ChainGateway
from api.commands.runner import CommandRunner
from api.indexer import Indexer
from api.jobs import MaturityJob
from api.notifier import Notifier
from api.ratelimit import RateLimiter
from api.refusals import RefusalLog
from api.settings import Settings
from api.webhooks import WebhookSender


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    #: reads that stand alone (:func:`api.db.read_only`)
    read_engine: Engine
    gateway: ChainGateway
    runner: CommandRunner
    indexer: Indexer
    maturity: MaturityJob
    document_key: bytes
    invoice_secret: bytes
    #: commands per organization (api.ratelimit)
    limits: RateLimiter
    #: refusals not journaled with a command, coalesced into the audit log (api.refusals)
    refusals: RefusalLog
    #: notifications from the read model, and their webhooks (api.notifier, api.webhooks)
    notifier: Notifier
    webhooks: WebhookSender
