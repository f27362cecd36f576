"""The HTTP edge: headers kept on refusals, the node's absence answered as 503, file names
in downloads, and request bodies bounded before they are read.

Why some tests talk to a real server (uvicorn on a socket): Starlette's TestClient hands
the app the whole body at once, so it cannot show whether the server waited for bytes a
client never sent, or stopped reading once a body was over its limit.
"""

from __future__ import annotations

import asyncio
import json
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.models import Document
from chain_client.node import AnvilNode, free_port
from tests.api.helpers import World, open_world

# -- refusals keep their headers; query parameters are not amounts ------------------------


def test_405_keeps_allow_header(world: World) -> None:
    r = world.client.delete("/v1/health")
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET"


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("OPTIONS", "/v1/organizations", {"GET", "POST"}),
        ("PATCH", "/v1/credit-lines", {"GET", "PUT"}),
        ("PUT", "/v1/organizations/1/api-keys", {"GET", "POST"}),
        ("POST", "/v1/organizations/1/api-keys/2", {"DELETE"}),
    ],
)
def test_405_allow_lists_every_method_of_the_path(
    world: World, method: str, path: str, allowed: set[str]
) -> None:
    """Routes of one path are separate (GET and POST /v1/organizations): the answer must
    name the methods of all of them, not of the first one matched."""
    r = world.client.request(method, path, headers=world.operator.headers)
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} == allowed


@pytest.mark.parametrize(
    "path",
    [
        "/v1/certificates?limit=0",
        "/v1/fragments?limit=-1",
        "/v1/offers?limit=x",
        "/v1/audit-log?limit=0",
    ],
)
def test_query_limit_is_not_an_amount(world: World, path: str) -> None:
    r = world.client.get(path, headers=world.operator.headers)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error", r.json()
    assert "fen" not in r.json()["detail"]


def test_body_limit_is_an_amount(world: World) -> None:
    """A credit line's ``limit`` is money: a number there is the amount-format refusal."""
    r = world.client.put(
        "/v1/credit-lines",
        json={"core_enterprise_id": world.core.org_id, "limit": 100},
        headers=world.bank.headers,
    )
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


@pytest.mark.parametrize(
    "method, path",
    [  # /v1/health answers 200 "degraded" instead (tests/api/test_node_outage.py)
        ("POST", "/v1/admin/pause"),
        ("POST", "/v1/admin/indexer"),
        ("GET", "/v1/reports/exposure"),
        ("GET", "/v1/organizations/1/balance"),
    ],
)
def test_unreachable_node_is_503_with_retry_after(
    stopped_node_world: tuple[World, AnvilNode], method: str, path: str
) -> None:
    world, node = stopped_node_world
    node.stop()
    client = TestClient(world.client.app, raise_server_exceptions=False)
    r = client.request(method, path, headers=world.operator.headers)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "node_unavailable"
    assert int(r.headers["retry-after"]) > 0


# -- downloads: any file name, one safe header ----------------------------------------------

BOUNDARY = "scf-test-boundary-7e1f"


def _multipart(filename_param: bytes, content: bytes, kind: str = "invoice") -> bytes:
    """A multipart body written by hand, so the file name arrives exactly as given
    (httpx would percent-encode quotes and control characters itself)."""
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="kind"\r\n\r\n{kind}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + filename_param
        + b'"\r\nContent-Type: application/pdf\r\n\r\n'
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def _upload_raw(world: World, filename_param: bytes, content: bytes) -> Any:
    return world.client.post(
        "/v1/documents",
        content=_multipart(filename_param, content),
        headers={
            **world.tier1.headers,
            "content-type": f"multipart/form-data; boundary={BOUNDARY}",
        },
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


@pytest.mark.parametrize(
    "name, offered, fallback",
    [
        ("发票.pdf", "发票.pdf", "document.pdf"),
        ("全中文名称", "全中文名称", "document"),
        ("Fāpiào 2026.pdf", "Fāpiào 2026.pdf", "Fapiao 2026.pdf"),
        (
            'in"voice; filename=x.exe.pdf',
            'in"voice; filename=x.exe.pdf',
            "in_voice_ filename=x.exe.pdf",
        ),
        ("..\\..\\win.ini", ".._.._win.ini", ".._.._win.ini"),
    ],
)
def test_download_any_file_name(world: World, name: str, offered: str, fallback: str) -> None:
    content = f"content of {name}".encode()
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').encode()
    up = _upload_raw(world, escaped, content)
    assert up.status_code == 201, up.text
    assert up.json()["filename"] == offered
    r = world.client.get(f"/v1/documents/{up.json()['id']}/content", headers=world.tier1.headers)
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
    r = world.client.get(f"/v1/documents/{up.json()['id']}/content", headers=world.tier1.headers)
    assert r.status_code == 200, r.text
    assert "set-cookie" not in r.headers
    assert _disposition(r.headers["content-disposition"]) == (
        "evilSet-Cookie_ a=b_gpj.exe",
        "evilSet-Cookie: a=b;gpj.exe",
    )


def test_every_answer_says_nosniff(world: World) -> None:
    for r in (
        world.client.get("/v1/me", headers=world.tier1.headers),
        world.client.get("/v1/me"),
        world.client.get("/v1/no-such-path"),
    ):
        assert r.headers["x-content-type-options"] == "nosniff", (r.status_code, r.headers)


def test_upload_content_type_is_kept_only_when_well_formed(world: World) -> None:
    """The declared type goes back out as a header: a control character in it must not."""
    body = _multipart(b"a.pdf", b"%PDF").replace(
        b"Content-Type: application/pdf", b"Content-Type: text/plain\x01x"
    )
    up = world.client.post(
        "/v1/documents",
        content=body,
        headers={
            **world.tier1.headers,
            "content-type": f"multipart/form-data; boundary={BOUNDARY}",
        },
    )
    assert up.status_code == 201, up.text
    assert up.json()["content_type"] == "application/octet-stream"


# -- request bodies: bounded and authenticated before they are read ------------------------


@contextmanager
def serving(app: Any) -> Iterator[int]:
    """The world's app (its runtime already built) behind a real uvicorn on a free port."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


@dataclass
class Answer:
    status: int | None  # None: no answer within the wait
    headers: dict[str, str]
    body: bytes
    seconds: float
    closed: bool  # the server closed the connection after answering
    sent: int = 0  # body bytes the client got to send


def _read_answer(sock: socket.socket, start: float, wait: float) -> Answer:
    data = b""
    sock.settimeout(wait)
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    seconds = time.monotonic() - start
    if b"\r\n\r\n" not in data:
        return Answer(None, {}, data, seconds, False)
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
    }
    closed = False
    try:
        sock.settimeout(2)
        while len(body) < int(headers.get("content-length", "0")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        closed = sock.recv(1) == b""
    except (TimeoutError, ConnectionResetError):
        closed = False
    return Answer(int(lines[0].split()[1]), headers, body, seconds, closed)


def _send(
    port: int, head: dict[str, str], path: str, body_start: bytes = b"", wait: float = 5.0
) -> Answer:
    """Send the request line and headers and the first bytes of the body only, then wait
    for an answer: one that comes was given without reading the rest."""
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        start = time.monotonic()
        lines = [f"POST {path} HTTP/1.1", "Host: test"] + [f"{k}: {v}" for k, v in head.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body_start)
        return _read_answer(sock, start, wait)
    finally:
        sock.close()


def _send_chunked(
    port: int,
    head: dict[str, str],
    path: str,
    total: int,
    chunk: int = 16 * 1024,
    first: bytes = b"{",
) -> Answer:
    """A chunked body of up to ``total`` bytes (``first``, then filler), sent chunk by
    chunk while no answer has come; stops sending at the answer (or when the server stops
    taking bytes)."""
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        start = time.monotonic()
        lines = [f"POST {path} HTTP/1.1", "Host: test", "Transfer-Encoding: chunked"]
        lines += [f"{k}: {v}" for k, v in head.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        sent, piece = 0, first + b" " * (chunk - len(first))
        while sent < total:
            if select.select([sock], [], [], 0.005)[0]:
                break  # the answer is there
            try:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            piece = b" " * chunk
        else:
            sock.sendall(b"0\r\n\r\n")
        answer = _read_answer(sock, start, 10.0)
        answer.sent = sent
        return answer
    finally:
        sock.close()


@pytest.fixture(scope="module")
def served(world: World) -> Iterator[int]:
    with serving(world.client.app) as port:
        yield port


def _multipart_head(key: str | None, length: int) -> dict[str, str]:
    head = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(length),
    }
    if key is not None:
        head["Authorization"] = f"Bearer {key}"
    return head


def test_huge_upload_without_key_is_401_unread(served: int) -> None:
    answer = _send(
        served,
        _multipart_head(None, 300 * 1024**2),
        "/v1/documents",
        _multipart(b"a.pdf", b"x" * 1000)[:1000],
    )
    assert answer.status == 401, answer
    assert answer.seconds < 3
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.headers["www-authenticate"].lower().startswith("bearer")
    assert answer.closed  # the rest of the 300 MB is not waited for


def test_upload_with_unknown_key_is_401_before_the_body(served: int) -> None:
    """A body within the limit, but the key is checked first: the answer comes though
    only the first bytes were sent."""
    answer = _send(
        served,
        _multipart_head("scf_" + "x" * 43, 5 * 1024**2),
        "/v1/documents",
        _multipart(b"a.pdf", b"x" * 100)[:200],
    )
    assert answer.status == 401, answer
    assert answer.seconds < 3


def test_auditor_upload_is_403_before_the_body(world: World, served: int) -> None:
    answer = _send(
        served,
        _multipart_head(world.auditor.key, 1024**2),
        "/v1/documents",
        _multipart(b"a.pdf", b"x" * 100)[:200],
    )
    assert answer.status == 403, answer


def test_oversized_upload_is_413_unread(world: World, served: int) -> None:
    declared = world.settings.max_upload_bytes + 1024**2
    answer = _send(
        served,
        _multipart_head(world.tier1.key, declared),
        "/v1/documents",
        _multipart(b"a.pdf", b"x" * 100)[:200],
    )
    assert answer.status == 413, answer
    assert answer.seconds < 3
    problem = json.loads(answer.body)
    assert problem["code"] == "too_large"
    assert problem["limit_bytes"] < declared
    assert answer.closed


@pytest.mark.parametrize("key", [None, "tier1"])
def test_huge_json_body_is_refused_unread(world: World, served: int, key: str | None) -> None:
    head = {"Content-Type": "application/json", "Content-Length": str(50 * 1024**2)}
    if key:
        head["Authorization"] = f"Bearer {world.parties[key].key}"
    answer = _send(served, head, "/v1/fragments/4294967296/split", b'{"amount": "')
    assert answer.status == (413 if key else 401), answer
    assert answer.seconds < 3
    assert answer.closed


def test_chunked_json_over_the_limit_is_413(world: World, served: int) -> None:
    total = 8 * 1024**2
    answer = _send_chunked(
        served,
        {"Authorization": f"Bearer {world.tier1.key}", "Content-Type": "application/json"},
        "/v1/fragments/4294967296/split",
        total,
    )
    assert answer.status == 413, answer
    assert json.loads(answer.body)["limit_bytes"] == world.settings.max_json_bytes
    assert answer.sent < total


def test_chunked_upload_over_the_limit_is_413(world: World, served: int) -> None:
    total = world.settings.max_upload_bytes * 3
    answer = _send_chunked(
        served,
        {
            "Authorization": f"Bearer {world.tier1.key}",
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        },
        "/v1/documents",
        total,
        chunk=256 * 1024,
        first=_multipart(b"big.pdf", b"")[: -len(BOUNDARY) - 8],
    )
    assert answer.status == 413, answer
    assert answer.sent < total


def test_body_is_read_no_further_than_the_limit(world: World) -> None:
    """Counted at the ASGI interface: after the chunk that crosses the limit, the app
    asks for no more (so nothing beyond the limit is buffered or spooled)."""
    chunk, limit = 4096, world.settings.max_json_bytes
    pulled, sent = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b" " * chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/fragments/4294967296/split",
        "raw_path": b"/v1/fragments/4294967296/split",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "headers": [
            (b"host", b"test"),
            (b"transfer-encoding", b"chunked"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {world.tier1.key}".encode()),
        ],
    }
    asyncio.run(world.client.app(scope, receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert pulled == limit // chunk + 1


def test_json_body_within_the_limit_still_works(world: World) -> None:
    r = world.client.post(
        "/v1/quotes",
        content=b" " * 1000 + b'{"fragment_id": "1", "amount": "1", "rate_bps": 1}',
        headers={**world.tier1.headers, "content-type": "application/json"},
    )
    assert r.status_code == 404, r.text  # parsed: fragment 1 is not a valid fragment id
