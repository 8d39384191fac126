import os

import numpy as np
import pytest
import tensorflow as tf

from kwm import PatchTrigger, architectures, export_for_serving, generate_key


def test_export_serves_exactly_and_holds_no_key(toy_data, tmp_path):
    model = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    key = generate_key(toy_data, "baseline", 0, 2, trigger=PatchTrigger(), num_verify=20)
    key.save(tmp_path / "key.json")
    path = export_for_serving(model, tmp_path / "served", check_inputs=toy_data.test.x[:16])
    served = tf.saved_model.load(path)
    np.testing.assert_allclose(
        served.serve(tf.constant(toy_data.test.x[:8])).numpy(),
        model.predict(toy_data.test.x[:8], verbose=0),
        atol=1e-6,
    )
    # Nothing of the key is in the export: not its fingerprint, not the bytes of
    # any watermark input.
    blobs = b""
    for root, _, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                blobs += f.read()
    assert key.fingerprint.encode() not in blobs
    for row in np.concatenate([key.verify_inputs[:5], key.embed_inputs[:5]]):
        assert row.astype("float32").tobytes() not in blobs


def test_refuses_to_overwrite(tmp_path):
    model = architectures.ewe_cnn((16, 16, 1), num_classes=3)
    (tmp_path / "served").mkdir()
    with pytest.raises(FileExistsError, match="Received: path="):
        export_for_serving(model, tmp_path / "served")
