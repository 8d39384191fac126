"""What a suspect answered on a key's verification inputs: recorded, hashed, replayable."""

import dataclasses
import hashlib

import numpy as np

from kwm.prediction_api import as_prediction_api

MIN_VERIFY_INPUTS = 5


@dataclasses.dataclass(frozen=True)
class SuspectAnswers:
    """A suspect's answers to the key's verification queries.

    Args:
        suspect: str. Name of the suspect (a path or URL).
        key_fingerprint: str. Fingerprint of the key whose inputs were sent.
        indices: array of int. Which of the key's verification inputs were
            sent (all of them, or as many as a query budget allowed).
        watermark: `(n, K)` float array. Answers to the watermark inputs
            (one-hot when the suspect answers labels only).
        reference: `(n, K)` float array or None. Answers to the same inputs
            without the trigger (None for out-of-distribution keys).
        labels_only: bool. The suspect answered top-1 labels, not
            probabilities.
        num_queries: int. Queries sent.
    """

    suspect: str
    key_fingerprint: str
    indices: np.ndarray
    watermark: np.ndarray
    reference: object
    labels_only: bool
    num_queries: int

    def sha256(self):
        """SHA-256 of the answers (indices, values and kind), to detect an edited claim."""
        digest = hashlib.sha256()
        digest.update(np.asarray(self.indices, dtype="<i8").tobytes())
        digest.update(np.asarray(self.watermark, dtype="<f4").tobytes())
        if self.reference is not None:
            digest.update(np.asarray(self.reference, dtype="<f4").tobytes())
        digest.update(b"labels" if self.labels_only else b"probabilities")
        return digest.hexdigest()

    def to_dict(self):
        return {
            "suspect": self.suspect,
            "key_fingerprint": self.key_fingerprint,
            "indices": np.asarray(self.indices).tolist(),
            "watermark": np.asarray(self.watermark, dtype="float32").tolist(),
            "reference": None
            if self.reference is None
            else np.asarray(self.reference, dtype="float32").tolist(),
            "labels_only": self.labels_only,
            "num_queries": self.num_queries,
            "sha256": self.sha256(),
        }

    @classmethod
    def from_dict(cls, document):
        """Rebuilds recorded answers; refuses them if they no longer match their SHA-256."""
        answers = cls(
            suspect=document["suspect"],
            key_fingerprint=document["key_fingerprint"],
            indices=np.asarray(document["indices"], dtype="int64"),
            watermark=np.asarray(document["watermark"], dtype="float32"),
            reference=None
            if document["reference"] is None
            else np.asarray(document["reference"], dtype="float32"),
            labels_only=bool(document["labels_only"]),
            num_queries=int(document["num_queries"]),
        )
        if answers.sha256() != document.get("sha256"):
            raise ValueError(
                "The recorded answers do not match their SHA-256: the claim was modified "
                f"after it was made. Received: sha256={document.get('sha256')!r}"
            )
        return answers


def verification_indices(key, budget=None):
    """The key's verification inputs a query budget allows, first ones first.

    Each input costs one query, two when it is paired with its trigger-free
    reference.

    Args:
        key: WatermarkKey.
        budget: int or None. Most queries to spend (None: every input).

    Returns:
        An int array of indices into `key.verify_inputs`.
    """
    n = len(key.verify_inputs)
    if budget is None:
        return np.arange(n)
    per_input = 1 if key.reference_inputs is None else 2
    count = min(n, int(budget) // per_input)
    if count < MIN_VERIFY_INPUTS:
        raise ValueError(
            f"A budget of {budget} queries reaches {count} verification inputs ({per_input} "
            f"queries each); a claim needs at least {MIN_VERIFY_INPUTS} "
            f"({MIN_VERIFY_INPUTS * per_input} queries). Received: budget={budget}"
        )
    return np.arange(count)


def query_suspect(suspect, key, budget=None, name=None):
    """Queries a suspect on the key's verification inputs (within a budget).

    Args:
        suspect: anything `kwm.PredictionAPI` accepts (a model, a path, a URL).
        key: WatermarkKey.
        budget: int or None. Most queries to send; the first inputs that fit
            are used (`verification_indices`).
        name: str or None. Suspect name for the record.

    Returns:
        `SuspectAnswers`.

    Examples:

    >>> import numpy as np, kwm
    >>> key = kwm.watermarks.WatermarkKey("baseline", "toy", 2, target_class=1,
    ...     source_class=0, source_dataset="toy", trigger=None, seed=0,
    ...     embed_inputs=np.zeros((4, 3)), verify_inputs=np.ones((40, 3)),
    ...     reference_inputs=np.zeros((40, 3)))
    >>> answers = query_suspect(lambda x: np.stack([1 - x[:, 0], x[:, 0]], 1), key, budget=30)
    >>> answers.num_queries, len(answers.indices), answers.labels_only
    (30, 15, False)
    >>> SuspectAnswers.from_dict(answers.to_dict()).sha256() == answers.sha256()
    True
    """
    indices = verification_indices(key, budget)
    api = as_prediction_api(suspect, num_classes=key.num_classes, name=name)
    before = api.num_queries
    watermark = api(key.verify_inputs[indices])
    reference = None if key.reference_inputs is None else api(key.reference_inputs[indices])
    return SuspectAnswers(
        suspect=str(api.name),
        key_fingerprint=key.fingerprint,
        indices=indices,
        watermark=watermark,
        reference=reference,
        labels_only=api.labels_only,
        num_queries=api.num_queries - before,
    )
