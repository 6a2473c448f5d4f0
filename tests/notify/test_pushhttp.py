"""app.notify.pushhttp.HttpPool sends what the requests session it replaced sent, against a local recording server."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

import pytest
import requests

from app.notify.pushhttp import HttpPool, TransportError
from tests.notify.fake_http import OneWriteHandler


class Recorder:
    """An HTTP/1.1 server on 127.0.0.1 that records each request and answers with ``answer`` (status, headers, body)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answer = (200, {"Content-Type": "application/json"}, b'{"ok":true}')
        recorder = self

        class Handler(OneWriteHandler):
            def _serve(self):
                recorder.requests.append({"method": self.command, "target": self.path, "headers": dict(self.headers),
                                          "body": self.read_body()})
                status, headers, body = recorder.answer
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve  # noqa: N815

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def pool():
    http = HttpPool(maxsize=2, timeout=5)
    yield http
    http.close()


PARAMS = [
    {"access_token": "tok-1"},
    {"a": "b c", "list": ["1", "2"], "none": None, "chinese": "中文 &=?", "number": 5},
    {"Signature": "abc+/=", "TemplateParam": '{"title":"新任务","link":"https://baton.example/l/x?y=1"}'},
]


@pytest.mark.parametrize("params", PARAMS)
def test_the_query_and_json_body_are_what_requests_sends(recorder, pool, params):
    body = {"agent_id": 1, "userid_list": "dt-1", "msg": {"title": "抢单", "ratio": 0.5, "ok": True, "none": None}}
    response = pool.request("POST", recorder.url + "/topapi/send?x=1", params=params, json=body)
    expected = requests.Request("POST", recorder.url + "/topapi/send?x=1", params=params, json=body).prepare()

    assert response.status_code == 200 and response.json() == {"ok": True}
    (seen,) = recorder.requests
    assert seen["target"] == expected.path_url
    assert seen["body"] == expected.body
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["Content-Length"] == str(len(expected.body))


def test_a_get_without_params_has_no_body(recorder, pool):
    assert pool.request("GET", recorder.url + "/gettoken").status == 200
    (seen,) = recorder.requests
    assert (seen["method"], seen["target"], seen["body"]) == ("GET", "/gettoken", b"")
    assert "Content-Length" not in seen["headers"]


def test_a_redirect_is_the_answer_and_is_not_followed(recorder, pool):
    recorder.answer = (302, {"Location": recorder.url + "/elsewhere"}, b"")
    response = pool.request("POST", recorder.url + "/send", json={})
    assert response.status == 302 and [r["target"] for r in recorder.requests] == ["/send"]


def test_a_url_without_a_scheme_is_named_as_requests_names_it(pool):
    with pytest.raises(TransportError) as caught:
        pool.request("GET", "oapi.dingtalk.com/gettoken")
    assert (caught.value.name, caught.value.retry) == ("MissingSchema", False)
