"""An organization's notifications, and the webhooks that carry them out
(api.notifier, api.webhooks)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy import update
from sqlmodel import Session, col, select

from api import webhooks
from api.audit import record_done
from api.auth import ADMIN, Principal, authenticate, require_duty
from api.commands.claims import CommandContext
from api.commands.http import command_response
from api.deps import ReadSessionDep, RuntimeDep, SessionDep, command_context
from api.models import Notification, Webhook, WebhookDelivery
from api.schemas import (
    DeliveryView,
    MarkReadAnswer,
    MarkReadRequest,
    NewWebhook,
    NotificationView,
    WebhookRequest,
    WebhookView,
)
from api.services.access import MAX_DB_INT, not_found
from api.timeutil import aware, utcnow

router = APIRouter(prefix="/v1", tags=["notifications"])
WebhookId = Annotated[int, Path(ge=1, le=MAX_DB_INT)]


def _iso(moment: Any) -> str | None:
    return aware(moment).isoformat() if moment is not None else None


def notification_view(n: Notification) -> NotificationView:
    assert n.id is not None
    return NotificationView(
        id=n.id,
        kind=n.kind,  # type: ignore[arg-type]
        subject=n.subject,
        data=json.loads(n.data),
        created_at=aware(n.created_at).isoformat(),
        read_at=_iso(n.read_at),
    )


@router.get("/notifications", response_model=list[NotificationView])
def list_notifications(
    session: ReadSessionDep,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> list[NotificationView]:
    """The organization's notifications, newest first (``unread``: only those not read)."""
    query = select(Notification).where(Notification.org_id == p.org_id)
    if unread:
        query = query.where(col(Notification.read_at).is_(None))
    rows = session.exec(query.order_by(col(Notification.id).desc()).limit(limit)).all()
    return [notification_view(n) for n in rows]


@router.post("/notifications/read", response_model=MarkReadAnswer)
def mark_read(
    body: MarkReadRequest,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> MarkReadAnswer:
    """Mark the organization's notifications up to ``up_to_id`` read (again: nothing)."""
    result = session.execute(
        update(Notification)
        .where(col(Notification.org_id) == p.org_id)
        .where(col(Notification.id) <= body.up_to_id)
        .where(col(Notification.read_at).is_(None))
        .values(read_at=utcnow())
    )
    session.commit()
    return MarkReadAnswer(marked=result.rowcount or 0)  # type: ignore[attr-defined]


def webhook_view(hook: Webhook) -> WebhookView:
    assert hook.id is not None
    return WebhookView(
        id=hook.id,
        url=hook.url,
        created_at=aware(hook.created_at).isoformat(),
        disabled=hook.disabled_at is not None,
    )


def _hook(session: Session, p: Principal, webhook_id: int) -> Webhook:
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.org_id != p.org_id:
        raise not_found("webhook", webhook_id)
    return hook


@router.post("/webhooks", status_code=201, response_model=NewWebhook)
def create_webhook(
    body: WebhookRequest,
    rt: RuntimeDep,
    session: SessionDep,
    ctx: CommandContext = Depends(command_context),  # noqa: B008
) -> JSONResponse:
    """An endpoint for the organization's notifications (its admins): 422
    ``webhook_url_refused`` for an address the service may not call (api.webhooks). The
    answer holds the signing secret, this once."""
    p = ctx.principal
    webhooks.check_url(body.url, rt.settings.webhook_allow_private)

    def work() -> tuple[int, dict[str, Any]]:
        secret = webhooks.new_secret()
        nonce, sealed = webhooks.seal_secret(rt.document_key, secret, p.org_id, body.url)
        hook = Webhook(org_id=p.org_id, url=body.url, secret_nonce=nonce, secret_sealed=sealed)
        session.add(hook)
        session.commit()
        return 201, {
            **webhook_view(hook).model_dump(),
            "secret": secret,
            "note": "Keep this secret: it signs every delivery (SCF-Signature) and is not "
            "shown again.",
        }

    return command_response(
        rt.runner.run_local(
            ctx,
            "create_webhook",
            f"organization:{p.org_id}",
            body.model_dump(),
            work,
            redact=("secret",),
            duty=ADMIN,
        )
    )


@router.get("/webhooks", response_model=list[WebhookView])
def list_webhooks(
    session: ReadSessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> list[WebhookView]:
    rows = session.exec(
        select(Webhook).where(Webhook.org_id == p.org_id).order_by(col(Webhook.id))
    ).all()
    return [webhook_view(h) for h in rows]


@router.delete("/webhooks/{webhook_id}", response_model=WebhookView)
def disable_webhook(
    webhook_id: WebhookId,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> WebhookView:
    """No more deliveries to it (its log stays)."""
    require_duty(ADMIN, p)
    hook = _hook(session, p, webhook_id)
    if hook.disabled_at is None:
        hook.disabled_at = utcnow()
        session.add(hook)
        record_done(session, p, "disable_webhook", f"webhook:{webhook_id}")
        session.commit()
    return webhook_view(hook)


def delivery_view(d: WebhookDelivery) -> DeliveryView:
    assert d.id is not None
    return DeliveryView(
        id=d.id,
        webhook_id=d.webhook_id,
        event=d.event,
        notification_id=d.notification_id,
        status=d.status,  # type: ignore[arg-type]
        attempts=d.attempts,
        next_attempt_at=_iso(d.next_attempt_at),
        last_status_code=d.last_status_code,
        last_error=d.last_error,
        log=json.loads(d.log),
        created_at=aware(d.created_at).isoformat(),
        delivered_at=_iso(d.delivered_at),
    )


@router.post("/webhooks/{webhook_id}/test", response_model=DeliveryView)
def test_webhook(
    webhook_id: WebhookId,
    rt: RuntimeDep,
    session: SessionDep,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> DeliveryView:
    """Send a test delivery now, once, and answer how it went (the test button)."""
    require_duty(ADMIN, p)
    hook = _hook(session, p, webhook_id)
    return delivery_view(rt.webhooks.test(hook))


@router.get("/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryView])
def list_deliveries(
    webhook_id: WebhookId,
    session: ReadSessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    p: Principal = Depends(authenticate),  # noqa: B008
) -> list[DeliveryView]:
    """The webhook's delivery log, newest first, every attempt of each."""
    _hook(session, p, webhook_id)
    rows = session.exec(
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(col(WebhookDelivery.id).desc())
        .limit(limit)
    ).all()
    return [delivery_view(d) for d in rows]
