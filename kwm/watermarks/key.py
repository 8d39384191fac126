"""The watermark key: the owner's secret, saved with a SHA-256 fingerprint."""

import base64
import dataclasses
import functools
import hashlib
import json
import os
import tempfile
import zlib
from typing import Optional

import numpy as np

from kwm.watermarks.trigger import deserialize_trigger, serialize_trigger

KEY_FORMAT = "kwm.WatermarkKey"
KEY_FORMAT_VERSION = 1
_ARRAY_FIELDS = ("embed_inputs", "verify_inputs", "reference_inputs")
# The verification settings an owner may commit to with the key (`WatermarkKey.protocol`); the
# names of `kwm.verification.verify_ownership`'s arguments.
PROTOCOL_FIELDS = (
    "tests", "decision_test", "significance", "alpha_certainty", "t_test_margin", "temperature",
)


class KeyIntegrityError(ValueError):
    """A key file whose content does not match its fingerprint."""


def _encode_array(array):
    array = np.asarray(array)
    if array.dtype.hasobject:
        # Texts arrive as object arrays of str; stored as fixed-width unicode (lossless).
        if not all(isinstance(value, str) for value in array.ravel()):
            raise ValueError(
                "Watermark inputs must be numeric arrays or arrays of str, not other Python "
                f"objects. Received: dtype={array.dtype}"
            )
        array = array.astype(np.str_) if array.size else np.zeros(array.shape, "<U1")
    array = np.ascontiguousarray(array)
    return {
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "zlib_base64": _compress(array.tobytes()),
    }


@functools.lru_cache(maxsize=16)
def _compress(raw):
    # Memoised on the exact bytes (compared in full on a hit): level-9 zlib of a
    # key's inputs takes about 0.15 s an array, and a verification fingerprints
    # the same key several times; an edited array is different bytes, so it is
    # compressed (and fingerprinted) anew.
    return base64.b64encode(zlib.compress(raw, 9)).decode()


def _decode_array(encoded):
    raw = zlib.decompress(base64.b64decode(encoded["zlib_base64"]))
    return np.frombuffer(raw, dtype=np.dtype(encoded["dtype"])).reshape(
        encoded["shape"]
    ).copy()


def _builtin(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(
        "Key parameters and provenance must be JSON-serialisable. "
        f"Received: {type(value).__name__}"
    )


def _canonical(payload):
    return json.dumps(
        payload,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
        default=_builtin,
    )


def _fingerprint(payload):
    return hashlib.sha256(_canonical(payload).encode("ascii")).hexdigest()


@dataclasses.dataclass
class WatermarkKey:
    """Everything needed to verify (and reproduce) a watermark claim.

    The key is the owner's secret (EWE section 4.4: robustness relies on
    the secrecy of the trigger and the watermarking parameters). It is
    saved as JSON with a SHA-256 fingerprint of its canonical content;
    publishing or escrowing the fingerprint when the model is released lets
    anyone check later that a claim replays the key committed to then.
    Nothing of the key goes into an exported serving model.

    Args:
        method: str. `"baseline"`, `"ewe"` or `"feature_sharing"`.
        dataset: str. Task dataset the watermarked model classifies.
        num_classes: int. Number of task classes.
        target_class: int. Class the watermarks must be assigned to.
        source_class: int or None. Class of the watermark sources (in
            `source_dataset`).
        source_dataset: str or None. Dataset of the watermark sources; equal
            to `dataset` for in-distribution watermarks, another dataset for
            out-of-distribution ones.
        trigger: trigger object (e.g. `PatchTrigger`) or None.
        seed: int. Seed that drew the watermark sources.
        embed_inputs: np.ndarray. Watermark inputs used to embed.
        verify_inputs: np.ndarray. Held-out watermark inputs used to verify
            (never trained on).
        reference_inputs: np.ndarray or None. `verify_inputs` without the
            trigger, one to one; None when there is no trigger-free
            counterpart (then tests compare with chance, 1 / num_classes).
        params: dict. Hyperparameters of the embedding method.
        false_rate: dict or None. For keys without `reference_inputs` only:
            the rate at which models trained *without* the watermark assign
            `verify_inputs` to the target, as measured by the owner with
            `kwm.verification.calibrate_false_rate` (`{"value": ..., "rates":
            [...], ...}`). Part of the fingerprint, so the null rate a claim
            is tested against is committed to with the key.
        trigger_effect: dict or None. For keys with `reference_inputs` only:
            how far the trigger alone moves models trained *without* the
            watermark towards the target (target rate with the trigger minus
            without it), as measured by the owner with
            `kwm.verification.calibrate_trigger_effect` on reference models
            of several architectures (`{"value": largest, "effects": [...],
            ...}`). The T-test's margin grows by it (`verify_ownership`).
            Part of the fingerprint.
        provenance: dict. Where the sources came from (dataset provenance,
            source indices), so the inputs can be regenerated.
        protocol: dict or None. The verification the owner commits to when
            the model is released, as `verify_ownership` arguments (names in
            `PROTOCOL_FIELDS`: the tests, the one that decides, the
            significance, the margins, the temperature the API serves at).
            Part of the fingerprint, so the decision rule is fixed before
            any suspect is seen; `kwm verify` uses it unless told otherwise.

    Examples:

    >>> import numpy as np, tempfile, os
    >>> key = WatermarkKey(method="baseline", dataset="toy", num_classes=2,
    ...     target_class=1, source_class=0, source_dataset="toy", trigger=None,
    ...     seed=0, embed_inputs=np.zeros((2, 3), "float32"),
    ...     verify_inputs=np.ones((2, 3), "float32"), reference_inputs=None)
    >>> path = os.path.join(tempfile.mkdtemp(), "key.json")
    >>> key.save(path) == key.fingerprint
    True
    >>> WatermarkKey.load(path, expected_fingerprint=key.fingerprint).target_class
    1
    """

    method: str
    dataset: str
    num_classes: int
    target_class: int
    source_class: Optional[int]
    source_dataset: Optional[str]
    trigger: object
    seed: int
    embed_inputs: np.ndarray
    verify_inputs: np.ndarray
    reference_inputs: Optional[np.ndarray] = None
    params: dict = dataclasses.field(default_factory=dict)
    provenance: dict = dataclasses.field(default_factory=dict)
    false_rate: Optional[dict] = None
    trigger_effect: Optional[dict] = None
    protocol: Optional[dict] = None

    def __post_init__(self):
        if not 0 <= self.target_class < self.num_classes:
            raise ValueError(
                f"`target_class` must lie in [0, {self.num_classes}). "
                f"Received: target_class={self.target_class}"
            )
        if len(self.verify_inputs) == 0:
            raise ValueError(
                "A key needs at least one verification input. "
                f"Received: verify_inputs of shape {np.shape(self.verify_inputs)}"
            )
        if self.reference_inputs is not None and np.shape(
            self.reference_inputs
        ) != np.shape(self.verify_inputs):
            raise ValueError(
                "`reference_inputs` must pair one to one with `verify_inputs`. "
                f"Received: reference_inputs.shape={np.shape(self.reference_inputs)}, "
                f"verify_inputs.shape={np.shape(self.verify_inputs)}"
            )
        if self.false_rate is not None:
            if self.reference_inputs is not None:
                raise ValueError(
                    "A key with trigger-free `reference_inputs` has its false watermark "
                    "rate measured on the suspect itself; `false_rate` is for keys "
                    f"without them. Received: false_rate={self.false_rate}"
                )
            value = self.false_rate.get("value") if isinstance(self.false_rate, dict) else None
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(
                    "`false_rate` must be a dict whose 'value' lies in [0, 1). "
                    f"Received: false_rate={self.false_rate}"
                )

        if self.trigger_effect is not None:
            if self.reference_inputs is None:
                raise ValueError(
                    "`trigger_effect` is measured against trigger-free `reference_inputs`; "
                    "this key has none (use `false_rate`). "
                    f"Received: trigger_effect={self.trigger_effect}"
                )
            value = (
                self.trigger_effect.get("value") if isinstance(self.trigger_effect, dict) else None
            )
            if not isinstance(value, (int, float)) or not -1.0 <= value <= 1.0:
                raise ValueError(
                    "`trigger_effect` must be a dict whose 'value' lies in [-1, 1]. "
                    f"Received: trigger_effect={self.trigger_effect}"
                )

        if self.protocol is not None:
            unknown = sorted(set(self.protocol) - set(PROTOCOL_FIELDS)) if isinstance(
                self.protocol, dict) else None
            if unknown is None or unknown:
                raise ValueError(
                    f"`protocol` must be a dict of verification settings named in "
                    f"{PROTOCOL_FIELDS}. Received: protocol={self.protocol!r}"
                )
            tests = self.protocol.get("tests")
            decision = self.protocol.get("decision_test")
            if decision is not None and tests is not None and decision not in tests:
                raise ValueError(
                    "The protocol's decision test must be one of its tests. "
                    f"Received: decision_test={decision!r}, tests={tests!r}"
                )

    @property
    def in_distribution(self):
        return self.source_dataset == self.dataset

    def to_payload(self):
        """The key as a JSON-serialisable dict (what the fingerprint covers)."""
        payload = {
            "method": self.method,
            "dataset": self.dataset,
            "num_classes": int(self.num_classes),
            "target_class": int(self.target_class),
            "source_class": None if self.source_class is None else int(self.source_class),
            "source_dataset": self.source_dataset,
            "trigger": serialize_trigger(self.trigger),
            "seed": int(self.seed),
            "params": self.params,
            "provenance": self.provenance,
        }
        if self.false_rate is not None:
            # Only when set, so that keys saved before the field existed keep
            # their fingerprints.
            payload["false_rate"] = self.false_rate
        if self.trigger_effect is not None:
            payload["trigger_effect"] = self.trigger_effect
        if self.protocol is not None:
            payload["protocol"] = self.protocol
        for name in _ARRAY_FIELDS:
            value = getattr(self, name)
            payload[name] = None if value is None else _encode_array(value)
        # Round-trip through JSON so that the fingerprint is computed on
        # exactly what a reload will see (tuples become lists, etc.).
        return json.loads(_canonical(payload))

    @classmethod
    def from_payload(cls, payload):
        kwargs = dict(payload)
        kwargs["trigger"] = deserialize_trigger(kwargs.get("trigger"))
        for name in _ARRAY_FIELDS:
            value = kwargs.get(name)
            kwargs[name] = None if value is None else _decode_array(value)
        return cls(**kwargs)

    @property
    def fingerprint(self):
        """SHA-256 of the key's canonical JSON content."""
        return _fingerprint(self.to_payload())

    @property
    def short_fingerprint(self):
        return self.fingerprint[:16]

    def save(self, path):
        """Writes the key as JSON (atomically) and returns its fingerprint."""
        payload = self.to_payload()
        fingerprint = _fingerprint(payload)
        document = {
            "format": KEY_FORMAT,
            "version": KEY_FORMAT_VERSION,
            "fingerprint_sha256": fingerprint,
            "key": payload,
        }
        path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".key-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="ascii") as f:
                json.dump(document, f, sort_keys=True, indent=1)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        return fingerprint

    @classmethod
    def load(cls, path, expected_fingerprint=None):
        """Reads a key and checks its fingerprint.

        Args:
            path: str. A file written by `save`.
            expected_fingerprint: str or None. The fingerprint committed to
                when the model was released (full hex digest or a prefix of
                at least 16 characters); checked in addition to the one
                stored in the file.

        Raises:
            KeyIntegrityError: the content does not hash to the stored
                fingerprint, or not to `expected_fingerprint`.
        """
        with open(path, encoding="utf-8") as f:
            try:
                document = json.load(f)
            except json.JSONDecodeError as e:
                raise KeyIntegrityError(
                    f"{path} is not a JSON key file: {e}. Received: path={path!r}"
                ) from e
        if not isinstance(document, dict) or document.get("format") != KEY_FORMAT:
            raise KeyIntegrityError(
                f"{path} is not a kwm watermark key. Received: "
                f"format={document.get('format') if isinstance(document, dict) else None!r}"
            )
        stored = document.get("fingerprint_sha256")
        computed = _fingerprint(document["key"])
        if stored != computed:
            raise KeyIntegrityError(
                f"The watermark key {path} was modified after it was saved: its "
                "content does not hash to the fingerprint stored with it. Do not "
                f"use it to verify ownership. Received: fingerprint={stored}, "
                f"computed={computed}"
            )
        if expected_fingerprint is not None:
            expected = expected_fingerprint.strip().lower()
            if len(expected) < 16 or not computed.startswith(expected):
                raise KeyIntegrityError(
                    f"The watermark key {path} is not the one committed to. "
                    f"Expected fingerprint {expected} (at least 16 hex "
                    f"characters). Received: fingerprint={computed}"
                )
        return cls.from_payload(document["key"])
