"""The stand-in counter helper against a stub control server on 127.0.0.1 (no mount needed)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from standin import Standin, parse_stats


class StubControl(BaseHTTPRequestHandler):
    stats = {"requests": {"get": 3, "head": 0, "list": 1, "put": 0}, "get_body_bytes": 5000, "body_bytes_sent": 5200}
    resets = 0

    def do_POST(self):  # noqa: N802 - http.server naming
        if self.path == "/_standin/reset":
            type(self).resets += 1
            self.send_response(204)
        else:
            self.send_response(404)
        self.end_headers()

    def do_GET(self):  # noqa: N802
        body = json.dumps(type(self).stats).encode()
        self.send_response(200 if self.path == "/_standin/stats" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubControl)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_reset_and_bounds_against_stub(stub_url):
    standin = Standin(stub_url + "/")
    before = StubControl.resets
    standin.reset()
    assert StubControl.resets == before + 1, "reset: expected one POST /_standin/reset"
    counters = standin.assert_at_most("within bounds", bytes_fetched=5000, get=3, list=1, head=0)
    assert (counters.get, counters.list, counters.bytes_fetched) == (3, 1, 5000), f"got {counters.describe()}"
    with pytest.raises(AssertionError, match=r"bytes_fetched: expected <= 4999, got 5000"):
        standin.assert_at_most("over the byte bound", bytes_fetched=4999)
    with pytest.raises(AssertionError, match=r"get: expected <= 2, got 3"):
        standin.assert_at_most("over the GET bound", get=2)


def test_disabled_without_url():
    standin = Standin(None)
    assert not standin.enabled
    assert standin.assert_at_most("no stand-in", bytes_fetched=0) is None


def test_parse_tolerates_other_spellings():
    counters = parse_stats({"requests": {"GetObject": 2, "HeadObject": 1, "ListObjectsV2": 4}, "body_bytes_sent": 10})
    assert (counters.get, counters.head, counters.list, counters.bytes_fetched) == (2, 1, 4, 10), counters.describe()
    with pytest.raises(AssertionError, match="no 'get' request counter"):
        parse_stats({"requests": {}, "get_body_bytes": 1})
