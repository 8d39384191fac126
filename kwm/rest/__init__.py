"""Prediction APIs over HTTP, in TensorFlow Serving's REST format.

`RestModel` queries a suspect's endpoint (`kwm.PredictionAPI` builds one
for an `http(s)://` URL); `serve` answers queries to a SavedModel on
loopback (`kwm serve`), for demos, tests and an owner's own API.
"""

from kwm.rest.client import RestModel, SuspectUnavailableError, is_url
from kwm.rest.server import PredictionServer, serve
