"""Notifications and webhooks (issue 15): made from the ledger's events and the calendar,
once per organization; delivered signed to an organization's endpoint, retried with
back-off, every attempt in the delivery log; a test delivery on demand."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from api import webhooks
from api.models import ChainEvent
from api.notifier import _from_event
from api.problems import Problem
from chain_client.node import AnvilNode
from tests.api.helpers import Receiver, World, issue_certificate, open_world, populate


@pytest.fixture(scope="module")
def w(anvil: AnvilNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    for world in open_world(
        anvil,
        tmp_path_factory.mktemp("notify"),
        webhook_allow_private=True,
        webhook_retry_seconds=0.2,
        webhook_attempts=3,
    ):
        yield populate(world)


def notes(w: World, party: Any, **params: Any) -> list[dict[str, Any]]:
    r = w.client.get("/v1/notifications", params=params, headers=party.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def register(w: World, party: Any, url: str) -> dict[str, Any]:
    r = w.client.post("/v1/webhooks", json={"url": url}, headers=party.headers)
    assert r.status_code == 201, r.text
    assert r.json()["secret"].startswith("whsec_")
    return r.json()  # type: ignore[no-any-return]


def settle(w: World) -> None:
    """What the indexing process does in the background: index, notify, deliver."""
    w.rt.indexer.catch_up()
    w.rt.notifier.step()
    w.rt.webhooks.deliver_due()


def test_a_received_certificate_is_delivered_signed_and_retried(w: World) -> None:
    receiver = Receiver([500])
    try:
        hook = register(w, w.tier1, receiver.url)
        cert = issue_certificate(w, face_value="500000", days=90, accept=False)["certificate_id"]
        settle(w)
        mine = [n for n in notes(w, w.tier1) if n["subject"] == f"certificate:{cert}"]
        assert [n["kind"] for n in mine] == ["certificate_received"]
        assert mine[0]["data"]["face_value"] == "500000"
        # the first attempt got a 500: pending, tried again after the back-off
        log = w.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=w.tier1.headers)
        first = log.json()[0]
        assert first["status"] == "pending" and first["attempts"] == 1
        assert first["log"][0]["status_code"] == 500 and first["next_attempt_at"]
        time.sleep(0.3)
        w.rt.webhooks.deliver_due()
        log = w.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=w.tier1.headers)
        done = log.json()[0]
        assert done["status"] == "delivered" and done["attempts"] == 2
        assert [a["status_code"] for a in done["log"]] == [500, 200]
        # what arrived is signed with the secret shown once, and says what happened
        headers, body = receiver.received[-1]
        assert webhooks.verify(hook["secret"], body, headers["SCF-Signature"])
        assert not webhooks.verify(hook["secret"], body + b" ", headers["SCF-Signature"])
        assert headers["SCF-Event"] == "certificate_received"
        sent = json.loads(body)
        assert sent["type"] == "certificate_received"
        assert sent["data"]["certificate_id"] == cert and sent["organization_id"] == w.tier1.org_id
        # made once however often the notifier reads the blocks again
        settle(w)
        assert len([n for n in notes(w, w.tier1) if n["subject"] == f"certificate:{cert}"]) == 1
    finally:
        receiver.close()


def test_a_delivery_that_keeps_failing_stops_after_its_attempts(w: World) -> None:
    receiver = Receiver([503, 503, 503, 503])
    try:
        hook = register(w, w.tier2, receiver.url)
        cert = issue_certificate(w, face_value="100000", days=90)
        r = w.client.post(
            f"/v1/fragments/{cert['root_fragment_id']}/split",
            json={"to_org_id": w.tier2.org_id, "amount": "40000"},
            headers=w.tier1.headers,
        )
        assert r.status_code == 201, r.text
        settle(w)  # the first attempt
        for wait in (0.3, 0.9):  # the back-off: 0.2 s, then 0.8 s
            time.sleep(wait)
            w.rt.webhooks.deliver_due()
        log = w.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=w.tier2.headers)
        failed = next(d for d in log.json() if d["event"] == "fragment_received")
        assert failed["status"] == "failed" and failed["attempts"] == 3
        assert failed["next_attempt_at"] is None
    finally:
        receiver.close()


def test_the_test_button_and_who_may_use_it(w: World) -> None:
    receiver = Receiver([])
    try:
        hook = register(w, w.bank, receiver.url)
        r = w.client.post(f"/v1/webhooks/{hook['id']}/test", headers=w.bank.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "delivered" and r.json()["event"] == "test"
        headers, body = receiver.received[-1]
        assert webhooks.verify(hook["secret"], body, headers["SCF-Signature"])
        # another organization does not see it; the list never shows the secret
        other = w.client.post(f"/v1/webhooks/{hook['id']}/test", headers=w.tier1.headers)
        assert other.status_code == 404 and other.json()["code"] == "unknown_webhook"
        listed = w.client.get("/v1/webhooks", headers=w.bank.headers).json()
        assert "secret" not in json.dumps(listed)
        off = w.client.delete(f"/v1/webhooks/{hook['id']}", headers=w.bank.headers)
        assert off.status_code == 200 and off.json()["disabled"]
    finally:
        receiver.close()


def test_maturity_soon_payouts_and_marking_read(w: World) -> None:
    cert = issue_certificate(w, face_value="300000", days=5)
    r = w.client.post(
        f"/v1/fragments/{cert['root_fragment_id']}/split",
        json={"to_org_id": w.tier2.org_id, "amount": "100000"},
        headers=w.tier1.headers,
    )
    assert r.status_code == 201, r.text
    settle(w)
    subject = f"certificate:{cert['certificate_id']}"
    for party in (w.core, w.tier1, w.tier2):
        kinds = [n["kind"] for n in notes(w, party) if n["subject"] == subject]
        assert "maturity_soon" in kinds, (party, kinds)
    # the issuer repays early in full; the payouts reach both holders
    r = w.client.post(
        f"/v1/certificates/{cert['certificate_id']}/repay",
        json={"amount": "300000", "early": True},
        headers=w.core.headers,
    )
    assert r.status_code == 200, r.text
    w.rt.indexer.catch_up()
    w.rt.maturity.step()
    settle(w)
    for party, amount in ((w.tier1, "200000"), (w.tier2, "100000")):
        paid = [n for n in notes(w, party) if n["kind"] == "payout_received"]
        assert any(n["data"]["amount"] == amount for n in paid), (party, paid)
    unread = notes(w, w.tier2, unread=True)
    r = w.client.post(
        "/v1/notifications/read", json={"up_to_id": unread[0]["id"]}, headers=w.tier2.headers
    )
    assert r.status_code == 200 and r.json()["marked"] == len(unread)
    assert notes(w, w.tier2, unread=True) == []


def test_an_overdue_certificate_notifies_its_issuer_and_holders() -> None:
    event = ChainEvent(
        block_number=9,
        block_hash="0x" + "0" * 64,
        tx_hash="0x" + "1" * 64,
        log_index=0,
        event="CertificateOverdue",
        args=json.dumps({"certificateId": "7", "outstanding": "123"}),
    )
    drafts = list(_from_event(event, lambda cert: ["0xIssuer", "0xHolder"]))
    assert [(d.address, d.kind, d.dedupe) for d in drafts] == [
        ("0xIssuer", "overdue", "overdue:7"),
        ("0xHolder", "overdue", "overdue:7"),
    ]


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",  # http
        "https://127.0.0.1/hook",  # loopback
        "https://10.1.2.3/hook",  # private
        "https://169.254.169.254/latest",  # link-local (cloud metadata)
        "https://user:pw@example.com/hook",  # credentials
        "ftp://example.com/hook",
        # what the fuzzer sent (answered 500 before: a name IDNA cannot encode)
        "https://\ud9d5w\u00d7\u0085\u00b3\u00e9/",
        "https://[::1/hook",
        "https://example.com:99999/hook",
    ],
)
def test_an_address_inside_the_network_is_refused(url: str) -> None:
    with pytest.raises(Problem) as refused:
        webhooks.check_url(url, allow_private=False)
    assert refused.value.code == "webhook_url_refused"
