"""Answers queries to a model over HTTP in TensorFlow Serving's REST format (`kwm serve`)."""

import http.server
import json
import threading
import urllib.parse

import numpy as np

from kwm.prediction_api import PredictionAPI

ANSWERS = ("probabilities", "labels")


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "kwm-serve"

    def log_message(self, format, *args):  # quiet: the owner's terminal shows the URL only
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status, document):
        body = json.dumps(document).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if urllib.parse.urlsplit(self.path).path.rstrip("/") != self.server.model_path:
            return self._send(404, {"error": f"no model at {self.path}"})
        self._send(200, {"model_version_status": [{"version": "1", "state": "AVAILABLE"}]})

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != self.server.model_path + ":predict":
            return self._send(404, {"error": f"no model at {self.path}; POST {self.server.url}"})
        try:
            length = int(self.headers.get("Content-Length", 0))
            document = json.loads(self.rfile.read(length))
            instances = document["instances"] if isinstance(document, dict) else document
            if not isinstance(instances, list) or not instances:
                raise ValueError("expected a non-empty list of instances")
            inputs = np.asarray(instances, dtype=object if isinstance(instances[0], str) else "float32")
        except (ValueError, KeyError, TypeError) as e:
            return self._send(400, {"error": f"bad request: {e}"})
        try:
            with self.server.lock:  # one model, one query at a time
                probabilities = self.server.api(inputs)
        except Exception as e:  # the model's own error, reported to the client
            return self._send(400, {"error": f"{type(e).__name__}: {e}"})
        if self.server.answers == "labels":
            predictions = probabilities.argmax(axis=1).tolist()
        else:
            predictions = probabilities.tolist()
        self._send(200, {"predictions": predictions})


class PredictionServer(http.server.ThreadingHTTPServer):
    """An HTTP server answering `POST /v1/models/NAME:predict` for one model.

    Args:
        model: anything `kwm.PredictionAPI` accepts (a SavedModel path, a
            Keras model, a function returning probabilities).
        name: str. The model's name in the URL.
        host: str. Address to bind (loopback by default).
        port: int. Port (0: a free one).
        answers: str. `"probabilities"` or `"labels"` (top-1 class only, as
            many commercial APIs answer).
        verbose: bool. Log every request.
    """

    daemon_threads = True

    def __init__(self, model, name="model", host="127.0.0.1", port=0, answers="probabilities",
                 verbose=False):
        if answers not in ANSWERS:
            raise ValueError(f"`answers` must be one of {ANSWERS}. Received: answers={answers!r}")
        if not name or "/" in name or ":" in name:
            raise ValueError(f"A model name is one URL segment. Received: name={name!r}")
        self.api = PredictionAPI(model, name=name)
        self.answers = answers
        self.verbose = verbose
        self.lock = threading.Lock()
        self.model_path = f"/v1/models/{name}"
        super().__init__((host, port), _Handler)

    def serve_until_interrupted(self):
        """Answers queries until Ctrl-C, then closes the socket."""
        try:
            self.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.server_close()

    @property
    def url(self):
        """The URL that answers queries, for `kwm verify --suspect`."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{self.model_path}:predict"


def serve(model, name="model", host="127.0.0.1", port=0, answers="probabilities",
          background=False, verbose=False):
    """Serves `model` over HTTP in TensorFlow Serving's REST predict format.

    Args:
        model: anything `kwm.PredictionAPI` accepts.
        name: str. The model's name in the URL.
        host: str. Address to bind; loopback by default (another address
            exposes the model to the network).
        port: int. Port (0: a free one; read it from the server's `url`).
        answers: str. `"probabilities"` or `"labels"` (top-1 only).
        background: bool. Serve from a daemon thread and return at once
            (call `shutdown()` on the server to stop); otherwise serve until
            interrupted.
        verbose: bool. Log every request.

    Returns:
        The `PredictionServer`.

    Examples:

    >>> import numpy as np, kwm
    >>> server = serve(lambda x: np.full((len(x), 2), 0.5), background=True)
    >>> api = kwm.PredictionAPI(server.url, num_classes=2)
    >>> api(np.zeros((3, 4))).tolist()
    [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]
    >>> server.shutdown(); server.server_close()
    """
    server = PredictionServer(model, name, host, port, answers, verbose)
    if background:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    else:
        server.serve_until_interrupted()
    return server
