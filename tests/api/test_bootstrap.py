"""The operator's bootstrap at start-up, when another instance on the same database does it
at the same moment (tests/api/test_scale_out.py starts two at once: on a loaded machine
both looked, found no key, and both inserted it; the second instance died at start-up)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, delete

import api.app as app_module
from api.auth import hash_token
from api.models import ApiKey
from chain_client.node import AnvilNode
from tests.api.helpers import OPERATOR_KEY, World, open_world


@pytest.fixture
def world(anvil: AnvilNode, tmp_path: Path) -> Iterator[World]:
    yield from open_world(anvil, tmp_path)


def test_a_bootstrap_racing_another_instance_reads_what_it_made(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = world.rt
    with Session(rt.engine) as session:
        session.exec(delete(ApiKey).where(ApiKey.label == "bootstrap"))  # type: ignore[call-overload]
        session.commit()
    real = app_module.ensure_key
    raced: list[str] = []

    def racing(session: Session, org_id: int, token: str, label: str) -> None:
        if raced:
            return real(session, org_id, token, label)
        raced.append(token)
        # the other instance commits the same key between this one's look and its insert
        with Session(rt.engine) as other:
            real(other, org_id, token, label)
            other.commit()
        digest = hash_token(token)
        session.add(ApiKey(org_id=org_id, prefix=token[:10], token_hash=digest, label=label))
        return None

    monkeypatch.setattr(app_module, "ensure_key", racing)
    app_module._bootstrap_operator(rt)
    assert raced == [OPERATOR_KEY]
    r = world.client.get("/v1/me", headers={"Authorization": f"Bearer {OPERATOR_KEY}"})
    assert r.status_code == 200, r.text
