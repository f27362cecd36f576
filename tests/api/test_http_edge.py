"""The HTTP edge: headers kept on refusals, the node's absence answered as 503, file names
in downloads, and request bodies bounded before they are read.

Why some tests talk to a real server (uvicorn on a socket): Starlette's TestClient hands
the app the whole body at once, so it cannot show whether the server waited for bytes a
client never sent, or stopped reading once a body was over its limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.models import Document
from chain_client.node import AnvilNode
from tests.api.conftest import World, open_world

# -- refusals keep their headers; query parameters are not amounts ------------------------


def test_405_keeps_allow_header(world: World) -> None:
    r = world.client.delete("/v1/health")
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET"


@pytest.mark.parametrize("path", ["/v1/certificates?limit=0", "/v1/fragments?limit=-1",
                                  "/v1/offers?limit=x", "/v1/audit-log?limit=0"])
def test_query_limit_is_not_an_amount(world: World, path: str) -> None:
    r = world.client.get(path, headers=world.operator.headers)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error", r.json()
    assert "fen" not in r.json()["detail"]


def test_body_limit_is_an_amount(world: World) -> None:
    """A credit line's ``limit`` is money: a number there is the amount-format refusal."""
    r = world.client.put("/v1/credit-lines", json={"core_enterprise_id": world.core.org_id,
                                                   "limit": 100}, headers=world.bank.headers)
    assert r.status_code == 422
    assert r.json()["code"] == "bad_amount_format"


# -- an unreachable node: 503 with Retry-After, never 500 ---------------------------------


@pytest.fixture(scope="module")
def stopped_node_world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[World, AnvilNode]]:
    """A world on a node of its own, which the test stops."""
    node = AnvilNode().start()
    try:
        for world in open_world(node, tmp_path_factory.mktemp("node-down")):
            yield world, node
    finally:
        node.stop()


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/health"),
    ("POST", "/v1/admin/pause"),
    ("POST", "/v1/admin/indexer"),
    ("GET", "/v1/reports/exposure"),
    ("GET", "/v1/organizations/1/balance"),
])
def test_unreachable_node_is_503_with_retry_after(
    stopped_node_world: tuple[World, AnvilNode], method: str, path: str
) -> None:
    world, node = stopped_node_world
    node.stop()
    client = TestClient(world.client.app, raise_server_exceptions=False)
    r = client.request(method, path, headers=world.operator.headers)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "chain_unavailable"
    assert int(r.headers["retry-after"]) > 0


# -- downloads: any file name, one safe header ----------------------------------------------

BOUNDARY = "scf-test-boundary-7e1f"


def _multipart(filename_param: bytes, content: bytes, kind: str = "invoice") -> bytes:
    """A multipart body written by hand, so the file name arrives exactly as given
    (httpx would percent-encode quotes and control characters itself)."""
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\n{kind}\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".encode()
        + filename_param
        + b"\"\r\nContent-Type: application/pdf\r\n\r\n" + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def _upload_raw(world: World, filename_param: bytes, content: bytes) -> Any:
    return world.client.post(
        "/v1/documents", content=_multipart(filename_param, content),
        headers={**world.tier1.headers,
                 "content-type": f"multipart/form-data; boundary={BOUNDARY}"},
    )


def _disposition(value: str) -> tuple[str, str]:
    """(the ASCII ``filename``, the decoded ``filename*``) of a Content-Disposition."""
    value.encode("ascii")  # a header value the server could send at all
    assert "\r" not in value and "\n" not in value
    assert value.startswith("attachment;"), value
    fallback = re.search(r'filename="([^"\\]*)"', value)
    extended = re.search(r"filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]+)(?:;|$)", value)
    assert fallback and extended, value
    return fallback.group(1), unquote(extended.group(1), errors="strict")


@pytest.mark.parametrize("name, offered, fallback", [
    ("发票.pdf", "发票.pdf", "document.pdf"),
    ("全中文名称", "全中文名称", "document"),
    ("Fāpiào 2026.pdf", "Fāpiào 2026.pdf", "Fapiao 2026.pdf"),
    ('in"voice; filename=x.exe.pdf', 'in"voice; filename=x.exe.pdf',
     "in_voice_ filename=x.exe.pdf"),
    ("..\\..\\win.ini", ".._.._win.ini", ".._.._win.ini"),
])
def test_download_any_file_name(world: World, name: str, offered: str, fallback: str) -> None:
    content = f"content of {name}".encode()
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').encode()
    up = _upload_raw(world, escaped, content)
    assert up.status_code == 201, up.text
    assert up.json()["filename"] == offered
    r = world.client.get(f"/v1/documents/{up.json()['id']}/content",
                         headers=world.tier1.headers)
    assert r.status_code == 200, r.text
    assert r.content == content
    assert _disposition(r.headers["content-disposition"]) == (fallback, offered)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in r.headers["cache-control"]


def test_download_name_with_control_characters(world: World) -> None:
    """CR/LF cannot come through multipart (a line break ends the part's header there),
    but a stored name with them (an older version, another path in) must not split the
    header either."""
    cut = _upload_raw(world, b"evil\r\nSet-Cookie: a=b.pdf", b"x")
    assert cut.status_code == 201, cut.text
    assert not set("\r\n") & set(cut.json()["filename"])
    up = _upload_raw(world, b"plain.pdf", b"evil content")
    assert up.status_code == 201, up.text
    with Session(world.rt.engine) as session:
        doc = session.get(Document, up.json()["id"])
        assert doc is not None
        doc.filename = "evil\r\nSet-Cookie: a=b;\x00\u202egpj.exe"
        session.add(doc)
        session.commit()
    r = world.client.get(f"/v1/documents/{up.json()['id']}/content",
                         headers=world.tier1.headers)
    assert r.status_code == 200, r.text
    assert "set-cookie" not in r.headers
    assert _disposition(r.headers["content-disposition"]) == (
        "evilSet-Cookie_ a=b_gpj.exe", "evilSet-Cookie: a=b;gpj.exe")


def test_every_answer_says_nosniff(world: World) -> None:
    for r in (world.client.get("/v1/me", headers=world.tier1.headers),
              world.client.get("/v1/me"),
              world.client.get("/v1/no-such-path")):
        assert r.headers["x-content-type-options"] == "nosniff", (r.status_code, r.headers)
