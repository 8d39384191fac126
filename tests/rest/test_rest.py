"""Suspects behind HTTP: the REST client, the loopback server, and every way an answer fails."""

import http.server
import json
import threading
import time

import numpy as np
import pytest

from kwm import InvalidPredictionError, PredictionAPI
from kwm.prediction_api import QueryBudgetExceededError
from kwm.rest import PredictionServer, RestModel, SuspectUnavailableError, serve


def _probabilities(x):
    out = np.full((len(x), 3), 0.1, "float32")
    out[:, 1] = 0.8
    return out


@pytest.fixture
def server():
    server = serve(_probabilities, name="toy", background=True)
    yield server
    server.shutdown()
    server.server_close()


class _Canned(http.server.BaseHTTPRequestHandler):
    """Answers every POST with the server's canned body (after its delay)."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.calls += 1
        time.sleep(self.server.delay)
        status, body = self.server.replies[min(self.server.calls, len(self.server.replies)) - 1]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def canned():
    servers = []

    def start(*replies, delay=0.0):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
        server.replies, server.delay, server.calls = list(replies), delay, 0
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server, f"http://127.0.0.1:{server.server_address[1]}/v1/models/m:predict"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_server_answers_in_tensorflow_servings_format(server):
    assert server.url.startswith("http://127.0.0.1:") and server.url.endswith("/v1/models/toy:predict")
    api = PredictionAPI(server.url, num_classes=3, batch_size=4)
    answers = api(np.zeros((10, 2, 2, 1), "float32"))
    np.testing.assert_allclose(answers, _probabilities(np.zeros(10)), atol=1e-6)
    assert api.num_queries == 10 and not api.labels_only


def test_plain_json_format(canned):
    _, url = canned((200, json.dumps([[0.5, 0.5], [0.2, 0.8]]).encode()))
    url = url.replace("/v1/models/m:predict", "/classify")
    assert RestModel(url).format == "json"
    assert PredictionAPI(url, num_classes=2)(np.zeros((2, 3))).argmax(1).tolist() == [0, 1]


def test_a_label_only_server_is_read_as_labels(tmp_path):
    server = serve(_probabilities, name="labels", answers="labels", background=True)
    try:
        api = PredictionAPI(server.url, num_classes=3)
        answers = api(np.zeros((4, 2)))
        assert api.labels_only and answers.tolist() == [[0, 1, 0]] * 4
    finally:
        server.shutdown()
        server.server_close()


def test_strings_travel_as_strings():
    seen = []

    def classify(texts):
        seen.extend(texts.tolist())
        return np.eye(2)[[int("good" in t) for t in texts]]

    server = serve(classify, background=True)
    try:
        answers = PredictionAPI(server.url, num_classes=2)(np.array(["good film", "bad"], object))
        assert answers.argmax(1).tolist() == [1, 0] and seen == ["good film", "bad"]
    finally:
        server.shutdown()
        server.server_close()


def test_the_query_budget_is_kept_before_querying(server):
    api = PredictionAPI(server.url, num_classes=3, max_queries=10)
    api(np.zeros((6, 2)))
    with pytest.raises(QueryBudgetExceededError, match="budget of 10 \\(6 used\\)"):
        api(np.zeros((5, 2)))
    assert api.num_queries == 6


def test_retries_with_backoff_then_succeeds(canned):
    server, url = canned((503, b"busy"), (200, json.dumps({"predictions": [[0.3, 0.7]]}).encode()))
    api = PredictionAPI(RestModel(url, backoff=0.01), num_classes=2)
    assert api(np.zeros((1, 2))).argmax(1).tolist() == [1] and server.calls == 2


@pytest.mark.parametrize(
    "reply, error, match",
    [
        ((200, b"<html>oops</html>"), SuspectUnavailableError, "did not answer with JSON"),
        ((200, b'{"outputs": []}'), SuspectUnavailableError, r"Received: keys \['outputs'\]"),
        ((200, b'{"predictions": [[0.5, 0.5]]}'), InvalidPredictionError, "2 classes but 3"),
        ((200, b'{"predictions": [[0.5, 0.5, 0.0], [1, 0]]}'), SuspectUnavailableError,
         "rows of different lengths"),
        ((200, b'{"predictions": [[2.0, -1.0, 0.0]]}'), InvalidPredictionError, "probabilities"),
        ((200, b'{"predictions": [7]}'), InvalidPredictionError, "outside 0..2"),
        ((404, b"no such model"), SuspectUnavailableError, "HTTP 404"),
    ],
)
def test_bad_answers_are_clear_errors(canned, reply, error, match):
    _, url = canned(reply)
    with pytest.raises(error, match=match):
        PredictionAPI(RestModel(url, retries=0), num_classes=3)(np.zeros((1, 2)))


def test_timeouts_and_unreachable_servers(canned):
    server, url = canned((200, b"[[1, 0, 0]]"), delay=1.0)
    with pytest.raises(SuspectUnavailableError, match="did not answer after 2 attempts"):
        RestModel(url, timeout=0.2, retries=1, backoff=0.0)(np.zeros((1, 2)))
    closed = PredictionServer(_probabilities)  # bound, never serving, then closed
    url = closed.url
    closed.server_close()
    with pytest.raises(SuspectUnavailableError, match="did not answer"):
        RestModel(url, retries=0)(np.zeros((1, 2)))


def test_bad_urls_and_settings():
    with pytest.raises(ValueError, match="must start with http"):
        RestModel("http://")
    with pytest.raises(ValueError, match="max_queries_per_second"):
        RestModel("http://127.0.0.1:1/m", max_queries_per_second=0)
    with pytest.raises(ValueError, match="answers"):
        PredictionServer(_probabilities, answers="logits")


def test_the_rate_limit_spaces_queries(server):
    api = PredictionAPI(RestModel(server.url, max_queries_per_second=50), num_classes=3,
                        batch_size=5)
    start = time.monotonic()
    api(np.zeros((15, 2)))  # three batches of 5: the last two wait 0.1 s each
    assert time.monotonic() - start >= 0.18


def test_the_server_rejects_bad_requests(server):
    import urllib.error
    import urllib.request

    for body, path in ((b"not json", server.url), (b'{"instances": []}', server.url),
                       (b'{"instances": [[0]]}', server.url.replace("toy", "other"))):
        request = urllib.request.Request(path, data=body, method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=5)
        assert info.value.code in (400, 404)
