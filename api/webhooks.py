"""Webhooks: an organization's notifications POSTed to its own endpoint, signed, retried.

* **Signed**: every delivery carries ``SCF-Signature: t=<unix time>,v1=<hex>``, the
  HMAC-SHA256 of ``"<t>.<body>"`` under the webhook's secret (shown once, when the webhook
  is made; kept encrypted under the service's document key, since it must be used again).
  The receiver recomputes it, compares in constant time, and refuses an old ``t``
  (:func:`verify`, which the tests use as a receiver would, is the reference).
* **Retried**: an answer other than 2xx, a timeout or a refused connection is tried again
  after ``webhook_retry_seconds`` x 4^(attempt - 1) (30 s, 2 min, 8 min, ... at most 6 h),
  up to ``webhook_attempts`` attempts; then the delivery is ``failed``. Redirects are not
  followed. Each attempt is in the delivery's log (``GET /v1/webhooks/{id}/deliveries``).
* **Where to**: https, or http only where ``webhook_allow_private`` is set (a network on
  one machine, as ``scf up`` starts); and an address that resolves to a private, loopback
  or link-local address is refused unless that is set, so that a member cannot make the
  service call into the network it runs in. The address is checked when the webhook is
  made and again before each attempt (a name may resolve elsewhere later).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from api import documents as crypto
from api.models import Notification, Webhook, WebhookDelivery
from api.problems import Problem
from api.settings import Settings
from api.timeutil import utcnow

SIGNATURE_HEADER = "SCF-Signature"
SECRET_PREFIX = "whsec_"
#: the longest wait between two attempts
MAX_DELAY = timedelta(hours=6)
#: how old a signed ``t`` a receiver should still take
TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, at: int) -> str:
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def verify(secret: str, body: bytes, header: str, now: int | None = None) -> bool:
    """What a receiver does: the signature matches the body and is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        at = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else int(time.time())) - at) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, body, at).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def url_refused(detail: str) -> Problem:
    return Problem(422, "webhook_url_refused", "This webhook address is not allowed", detail)


def check_url(url: str, allow_private: bool) -> None:
    """422 ``webhook_url_refused`` unless ``url`` may be called (see the module docstring)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # a bracket left open, a port out of range
        raise url_refused("This is no http(s) address.") from None
    if parts.scheme not in ("https", "http") or not host:
        raise url_refused("A webhook is an http(s) address with a host.")
    if parts.scheme == "http" and not allow_private:
        raise url_refused("A webhook must use https.")
    if parts.username or parts.password:
        raise url_refused("Put no credentials in the address: verify the signature instead.")
    try:
        found = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):  # no such name; a name IDNA cannot encode
        raise url_refused(f"The host {host!r} does not resolve.") from None
    for *_, address in found:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global and not allow_private:
            raise url_refused(f"{host} resolves to {ip}, an address inside a private network.")


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _bound_to(org_id: int, url: str) -> str:
    """What the sealed secret is bound to: it opens only for its own webhook's row."""
    return f"webhook:{org_id}:{url}"


def seal_secret(key: bytes, secret: str, org_id: int, url: str) -> tuple[bytes, bytes]:
    return crypto.seal(key, _bound_to(org_id, url), secret.encode())


def open_secret(key: bytes, hook: Webhook) -> str:
    bound = _bound_to(hook.org_id, hook.url)
    return crypto.unseal(key, bound, hook.secret_nonce, hook.secret_sealed).decode()


def payload(notification: Notification | None, org_id: int, delivery_id: int) -> dict[str, Any]:
    if notification is None:
        return {
            "id": f"test-{delivery_id}",
            "type": "test",
            "organization_id": org_id,
            "created_at": utcnow().isoformat(),
            "data": {"note": "A test from the portal: your endpoint is reached and signed."},
        }
    return {
        "id": f"ntf_{notification.id}",
        "type": notification.kind,
        "organization_id": notification.org_id,
        "subject": notification.subject,
        "created_at": notification.created_at.isoformat(),
        "data": json.loads(notification.data),
    }


class WebhookSender:
    """Attempts the deliveries that are due (in the indexing process), and a test now."""

    def __init__(self, engine: Engine, settings: Settings, document_key: bytes) -> None:
        self.engine = engine
        self.settings = settings
        self.key = document_key

    def delay(self, attempts: int) -> timedelta:
        seconds = self.settings.webhook_retry_seconds * 4 ** max(0, attempts - 1)
        return min(timedelta(seconds=seconds), MAX_DELAY)

    def deliver_due(self, limit: int = 50) -> int:
        """Attempt every delivery due now; returns how many were attempted."""
        with Session(self.engine) as session:
            due = session.exec(
                select(WebhookDelivery.id)
                .where(WebhookDelivery.status == "pending")
                .where(col(WebhookDelivery.next_attempt_at) <= utcnow())
                .order_by(col(WebhookDelivery.id))
                .limit(limit)
            ).all()
        for delivery_id in due:
            if delivery_id is not None:
                self.attempt(delivery_id, retry=True)
        return len(due)

    def attempt(self, delivery_id: int, *, retry: bool) -> WebhookDelivery:
        """One attempt; ``retry``: a failure is tried again later (a test is not)."""
        with Session(self.engine, expire_on_commit=False) as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            assert delivery is not None
            hook = session.get(Webhook, delivery.webhook_id)
            assert hook is not None
            note = (
                session.get(Notification, delivery.notification_id)
                if delivery.notification_id is not None
                else None
            )
            body = json.dumps(payload(note, hook.org_id, delivery_id), sort_keys=True).encode()
            started = time.monotonic()
            code, error = self._post(hook, body, delivery)
            entry = {
                "at": utcnow().isoformat(),
                "status_code": code,
                "error": error,
                "ms": int((time.monotonic() - started) * 1000),
            }
            delivery.log = json.dumps([*json.loads(delivery.log), entry])
            delivery.attempts += 1
            delivery.last_status_code, delivery.last_error = code, error
            if code is not None and 200 <= code < 300:
                delivery.status, delivery.delivered_at = "delivered", utcnow()
                delivery.next_attempt_at = None
            elif (
                retry
                and delivery.attempts < self.settings.webhook_attempts
                and not hook.disabled_at
            ):
                delivery.next_attempt_at = utcnow() + self.delay(delivery.attempts)
            else:
                delivery.status, delivery.next_attempt_at = "failed", None
            session.add(delivery)
            session.commit()
            return delivery

    def _post(
        self, hook: Webhook, body: bytes, delivery: WebhookDelivery
    ) -> tuple[int | None, str | None]:
        try:
            check_url(hook.url, self.settings.webhook_allow_private)
        except Problem as refused:
            return None, refused.detail
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "scf-ledger-webhooks/1",
            "SCF-Event": delivery.event,
            "SCF-Delivery": str(delivery.id),
            SIGNATURE_HEADER: sign(open_secret(self.key, hook), body, int(time.time())),
        }
        try:
            answer = httpx.post(
                hook.url,
                content=body,
                headers=headers,
                timeout=self.settings.webhook_timeout,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        return answer.status_code, None if answer.is_success else f"HTTP {answer.status_code}"

    def test(self, hook: Webhook) -> WebhookDelivery:
        """A test delivery, attempted now, once."""
        assert hook.id is not None
        with Session(self.engine, expire_on_commit=False) as session:
            delivery = WebhookDelivery(webhook_id=hook.id, event="test", next_attempt_at=None)
            session.add(delivery)
            session.commit()
            assert delivery.id is not None
        return self.attempt(delivery.id, retry=False)
