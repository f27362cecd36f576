"""api.cli.client on the standard library's http.client: the kept-alive connection, a
connection the server closed while idle, uploads, and refusals that are not JSON. Against
a small local server, so each case is exact."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from api.cli.client import ApiClient, ApiRefusedError, ApiUnreachableError, ApiUrlError


class Recorder(BaseHTTPRequestHandler):
    """Answers every request with what it received, as JSON; the server's flags say when to
    drop the connection after answering (as an idle keep-alive timeout does) or refuse."""

    protocol_version = "HTTP/1.1"
    server: Any

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.connections.add(self.client_address)
        if self.path.startswith("/v1/refuse"):
            payload, status, ctype = b"<html>bad gateway</html>", 502, "text/html"
        else:
            status, ctype = 200, "application/json"
            payload = json.dumps(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body.decode("latin-1"),
                }
            ).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if self.server.drop_after_answer:
            self.close_connection = True  # closed without telling: "Connection: close" unsent

    do_GET = do_POST = do_PUT = _answer  # noqa: N815 (the names http.server calls)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Any]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.connections = set()
    httpd.drop_after_answer = False
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _client(server: Any, key: str | None = "k") -> ApiClient:
    return ApiClient(f"http://127.0.0.1:{server.server_address[1]}", key)


def test_calls_share_one_connection_and_carry_key_and_idempotency_key(server: Any) -> None:
    api = _client(server)
    first = api.get("/things", status="open", limit=5, empty=None, flag=True)
    assert first["path"] == "/v1/things?status=open&limit=5&flag=true"
    assert first["headers"]["Authorization"] == "Bearer k"
    command = api.post("/things", {"amount": "100"})
    assert command["method"] == "POST" and json.loads(command["body"]) == {"amount": "100"}
    assert command["headers"]["Content-Type"] == "application/json"
    assert len(command["headers"]["Idempotency-Key"]) == 36
    assert api.put("/x", idempotency_key="mine")["headers"]["Idempotency-Key"] == "mine"
    assert len(server.connections) == 1
    api.close()


def test_a_connection_the_server_dropped_is_replaced(server: Any) -> None:
    server.drop_after_answer = True
    api = _client(server)
    assert [api.get("/n", i=i)["path"] for i in range(3)] == [f"/v1/n?i={i}" for i in range(3)]
    assert len(server.connections) == 3


def test_an_upload_is_multipart_with_the_file_name_escaped(server: Any) -> None:
    api = _client(server)
    sent = api.post(
        "/documents", files={"file": ('a "q".pdf', b"%PDF-1.4\r\nx", "application/pdf")}
    )
    ctype = sent["headers"]["Content-Type"]
    assert ctype.startswith("multipart/form-data; boundary=")
    boundary = ctype.split("boundary=")[1]
    assert sent["body"] == (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="a %22q%22.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
        f"%PDF-1.4\r\nx\r\n--{boundary}--\r\n"
    )


def test_a_refusal_that_is_not_a_problem_document(server: Any) -> None:
    with pytest.raises(ApiRefusedError) as refused:
        _client(server).get("/refuse")
    assert (refused.value.status, refused.value.code) == (502, "http_error")
    assert refused.value.title == "Bad Gateway" and "bad gateway" in refused.value.detail


def test_nobody_listening_and_urls_that_name_no_server(server: Any) -> None:
    port = server.server_address[1]
    server.shutdown()
    server.server_close()
    with pytest.raises(ApiUnreachableError, match="did not answer"):
        ApiClient(f"http://127.0.0.1:{port}").get("/health")
    for url in ("127.0.0.1:8000", "ftp://host", "http://", "http://host:port"):
        with pytest.raises(ApiUrlError):
            ApiClient(url)
