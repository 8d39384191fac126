"""A suspect behind HTTP: batching, timeouts, retries with backoff, a rate limit."""

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np


class SuspectUnavailableError(OSError):
    """A remote suspect could not be reached or did not answer in time."""


def is_url(value):
    """Whether `value` is an `http://` or `https://` URL.

    Examples:

    >>> is_url("http://127.0.0.1:8501/v1/models/m:predict"), is_url("served/model")
    (True, False)
    """
    return isinstance(value, str) and value.split("://", 1)[0].lower() in ("http", "https")


def _instances(batch):
    """A batch as JSON-ready instances: nested lists of numbers, or strings."""
    batch = np.asarray(batch)
    if batch.dtype.kind in "OUS":
        return [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in batch.tolist()]
    return batch.astype("float32").tolist()


class RestModel:
    """Calls a prediction endpoint over HTTP; a batch in, its answers out.

    Two request formats, chosen by the URL:

    - TensorFlow Serving's REST predict API (a URL ending in `:predict`,
      e.g. `http://host:8501/v1/models/NAME:predict`): the body is
      `{"instances": [...]}`, the answer `{"predictions": [...]}`.
    - Plain JSON (any other URL): the body is the JSON list of inputs, the
      answer a JSON list with one answer per input (or the same
      `{"predictions": [...]}` object).

    Each answer is a list of class probabilities, or a class index for an
    API that returns labels only. Images travel as nested lists of floats,
    texts as strings.

    Args:
        url: str. The endpoint, `http://` or `https://`.
        timeout: float. Seconds to wait for one answer.
        retries: int. Further attempts after a connection error, a timeout
            or a 5xx/429 answer, with exponential backoff.
        backoff: float. Seconds before the first retry (doubled each time).
        max_queries_per_second: float or None. Client-side rate limit.
        headers: dict or None. Extra HTTP headers (e.g. an API key).

    Examples:

    >>> RestModel("http://127.0.0.1:8501/v1/models/m:predict").format
    'tensorflow_serving'
    >>> RestModel("ftp://host/model")
    Traceback (most recent call last):
    ...
    ValueError: A suspect URL must start with http:// or https://. Received: url='ftp://host/model'
    """

    def __init__(self, url, timeout=30.0, retries=3, backoff=0.5, max_queries_per_second=None,
                 headers=None):
        if not is_url(url) or not urllib.parse.urlsplit(url).netloc:
            raise ValueError(
                f"A suspect URL must start with http:// or https://. Received: url={url!r}"
            )
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError(
                "`timeout` must be positive, `retries` and `backoff` >= 0. Received: "
                f"timeout={timeout}, retries={retries}, backoff={backoff}"
            )
        if max_queries_per_second is not None and max_queries_per_second <= 0:
            raise ValueError(
                "`max_queries_per_second` must be positive (None: no limit). "
                f"Received: max_queries_per_second={max_queries_per_second}"
            )
        self.url = url
        self.name = url
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_queries_per_second = max_queries_per_second
        self.headers = dict(headers or {})
        path = urllib.parse.urlsplit(url).path
        self.format = "tensorflow_serving" if path.endswith(":predict") else "json"
        self._next_allowed = 0.0

    def _throttle(self, num_inputs):
        if not self.max_queries_per_second:
            return
        now = time.monotonic()
        if now < self._next_allowed:
            time.sleep(self._next_allowed - now)
        self._next_allowed = max(now, self._next_allowed) + num_inputs / self.max_queries_per_second

    def _post(self, body):
        request = urllib.request.Request(
            self.url, data=body, method="POST",
            headers={"Content-Type": "application/json", **self.headers},
        )
        delay = self.backoff
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return response.read()
            except urllib.error.HTTPError as e:
                if e.code not in (429, 500, 502, 503, 504) or last:
                    detail = e.read()[:200].decode("utf-8", "replace")
                    raise SuspectUnavailableError(
                        f"{self.url} answered HTTP {e.code} {e.reason}: {detail}. "
                        f"Received: status={e.code}"
                    ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                if last:
                    reason = getattr(e, "reason", e)
                    raise SuspectUnavailableError(
                        f"{self.url} did not answer after {self.retries + 1} attempts "
                        f"(timeout {self.timeout:g} s each). Received: {reason}"
                    ) from None
            time.sleep(delay)
            delay *= 2

    def __call__(self, batch):
        instances = _instances(batch)
        self._throttle(len(instances))
        payload = {"instances": instances} if self.format == "tensorflow_serving" else instances
        raw = self._post(json.dumps(payload).encode("utf-8"))
        try:
            answer = json.loads(raw)
        except ValueError:
            raise SuspectUnavailableError(
                f"{self.url} did not answer with JSON. Received: {raw[:100]!r}"
            ) from None
        if isinstance(answer, dict) and "predictions" in answer:
            answer = answer["predictions"]
        if not isinstance(answer, list):
            raise SuspectUnavailableError(
                f"{self.url} must answer with a list of predictions (or "
                '{"predictions": [...]}). Received: '
                + (f"keys {sorted(answer)}" if isinstance(answer, dict) else type(answer).__name__)
            )
        try:
            return np.asarray(answer)
        except ValueError:
            raise SuspectUnavailableError(
                f"{self.url} answered with rows of different lengths. Received: "
                f"{len(answer)} rows"
            ) from None
