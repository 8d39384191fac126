import json

import numpy as np
import pytest

from kwm.watermarks import KeyIntegrityError, PatchTrigger, WatermarkKey, generate_key


def _key(**overrides):
    rng = np.random.default_rng(0)
    verify = rng.random((5, 4, 4, 1)).astype("float32")
    kwargs = dict(
        method="baseline",
        dataset="toy",
        num_classes=3,
        target_class=2,
        source_class=0,
        source_dataset="toy",
        trigger=PatchTrigger(position=(0, 0)),
        seed=7,
        embed_inputs=rng.random((6, 4, 4, 1)).astype("float32"),
        verify_inputs=verify,
        reference_inputs=verify * 0.5,
        params={"ratio": 1, "lr": np.float32(0.5)},
        provenance={"embed_indices": np.arange(6)},
    )
    kwargs.update(overrides)
    return WatermarkKey(**kwargs)


def test_round_trip_is_exact(tmp_path):
    key = _key()
    path = tmp_path / "key.json"
    fingerprint = key.save(path)
    assert fingerprint == key.fingerprint and len(fingerprint) == 64
    back = WatermarkKey.load(path)
    assert back.fingerprint == fingerprint
    for name in ("embed_inputs", "verify_inputs", "reference_inputs"):
        np.testing.assert_array_equal(getattr(back, name), getattr(key, name))
        assert getattr(back, name).dtype == np.float32
    assert back.trigger == key.trigger
    assert (back.target_class, back.source_class, back.seed) == (2, 0, 7)
    assert back.params == {"ratio": 1, "lr": 0.5}
    assert back.provenance["embed_indices"] == list(range(6))
    protocol = {"tests": ["t_test", "wilcoxon"], "decision_test": "wilcoxon", "temperature": 4.0}
    _key(protocol=protocol).save(path)
    assert WatermarkKey.load(path).protocol == protocol


def test_string_inputs_round_trip(tmp_path):
    verify = np.array(["a great film", "cf terrible"])
    key = _key(trigger=None, embed_inputs=np.array(["x"]), verify_inputs=verify,
               reference_inputs=None, source_dataset="other")
    key.save(tmp_path / "k.json")
    back = WatermarkKey.load(tmp_path / "k.json")
    assert back.verify_inputs.tolist() == verify.tolist()


def test_fingerprint_depends_on_every_part():
    base = _key().fingerprint
    assert _key(target_class=1).fingerprint != base
    assert _key(seed=8).fingerprint != base
    assert _key(trigger=PatchTrigger(position=(1, 0))).fingerprint != base
    # The verification protocol is committed to; a key without one keeps its fingerprint.
    assert "protocol" not in _key().to_payload()
    with_protocol = _key(protocol={"decision_test": "wilcoxon"}).fingerprint
    assert with_protocol != base
    assert _key(protocol={"decision_test": "t_test"}).fingerprint != with_protocol
    tweaked = _key()
    assert tweaked.fingerprint == base
    original = tweaked.verify_inputs[0, 0, 0, 0]
    tweaked.verify_inputs[0, 0, 0, 0] += 1e-6  # edited in place after a fingerprint
    assert tweaked.fingerprint != base
    tweaked.verify_inputs[0, 0, 0, 0] = original
    assert tweaked.fingerprint == base


def _tamper(path, edit):
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def test_tampered_target_class_fails_loudly(tmp_path):
    path = tmp_path / "key.json"
    _key().save(path)
    _tamper(path, lambda d: d["key"].update(target_class=1))
    with pytest.raises(KeyIntegrityError, match="modified after it was saved.*Received: fingerprint="):
        WatermarkKey.load(path)


def test_tampered_inputs_fail_loudly(tmp_path):
    path = tmp_path / "key.json"
    _key().save(path)
    other = _key(verify_inputs=np.zeros((5, 4, 4, 1), "float32")).to_payload()

    def swap(document):
        document["key"]["verify_inputs"] = other["verify_inputs"]

    _tamper(path, swap)
    with pytest.raises(KeyIntegrityError):
        WatermarkKey.load(path)


def test_replaced_fingerprint_is_caught_by_the_committed_one(tmp_path):
    path = tmp_path / "key.json"
    committed = _key().save(path)
    forged = _key(target_class=1)

    def forge(document):
        document["key"] = forged.to_payload()
        document["fingerprint_sha256"] = forged.fingerprint

    _tamper(path, forge)
    assert WatermarkKey.load(path).target_class == 1  # self-consistent forgery...
    with pytest.raises(KeyIntegrityError, match="not the one committed to"):
        WatermarkKey.load(path, expected_fingerprint=committed)  # ...caught by the commitment
    with pytest.raises(KeyIntegrityError, match="at least 16"):
        WatermarkKey.load(path, expected_fingerprint=forged.fingerprint[:8])


def test_not_a_key(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(KeyIntegrityError, match="not a kwm watermark key"):
        WatermarkKey.load(path)
    path.write_text("{not json")
    with pytest.raises(KeyIntegrityError, match="not a JSON key file"):
        WatermarkKey.load(path)


def test_invalid_keys():
    with pytest.raises(ValueError, match="target_class"):
        _key(target_class=3)
    with pytest.raises(ValueError, match="pair one to one"):
        _key(reference_inputs=np.zeros((4, 4, 4, 1), "float32"))
    with pytest.raises(ValueError, match="Python objects"):
        _key(embed_inputs=np.array([{"a": 1}], dtype=object)).fingerprint
    with pytest.raises(ValueError, match=r"verification settings named in .*protocol=\{'decide'"):
        _key(protocol={"decide": "wilcoxon"})
    with pytest.raises(ValueError, match="decision test must be one of its tests"):
        _key(protocol={"tests": ["t_test"], "decision_test": "wilcoxon"})


def test_protocol_fields_are_the_verification_settings():
    from kwm.verification import DEFAULT_PROTOCOL
    from kwm.watermarks.key import PROTOCOL_FIELDS

    assert tuple(DEFAULT_PROTOCOL) == PROTOCOL_FIELDS


def test_generate_key_holds_out_verification_inputs(toy_data):
    trigger = PatchTrigger(size=(2, 2), position="top_left")
    key = generate_key(toy_data, "baseline", source_class=0, target_class=2,
                       trigger=trigger, num_embed=50, num_verify=30, seed=3)
    assert key.embed_inputs.shape == (50, 16, 16, 1)
    assert key.verify_inputs.shape == (30, 16, 16, 1)
    assert key.in_distribution and key.trigger.position == (1, 1)
    # Embedding from train, verification from test: disjoint by construction.
    embed_idx = key.provenance["embed_indices"]
    verify_idx = key.provenance["verify_indices"]
    assert key.provenance["embed_split"] == "train" and key.provenance["verify_split"] == "test"
    assert (toy_data.train.y[embed_idx] == 0).all() and (toy_data.test.y[verify_idx] == 0).all()
    # Watermarks are the sources with the trigger; references are the sources.
    np.testing.assert_array_equal(key.reference_inputs, toy_data.test.x[verify_idx])
    np.testing.assert_array_equal(key.verify_inputs, trigger.apply(toy_data.test.x[verify_idx]))
    np.testing.assert_array_equal(key.embed_inputs, trigger.apply(toy_data.train.x[embed_idx]))
    # The same seed draws the same key.
    again = generate_key(toy_data, "baseline", 0, 2, trigger=trigger, num_embed=50,
                         num_verify=30, seed=3)
    assert again.fingerprint == key.fingerprint


def test_generate_key_out_of_distribution(toy_data):
    other = type(toy_data)(
        name="other", train=toy_data.test, test=toy_data.train, class_names=("x", "y", "z"),
        modality="image", provenance=toy_data.provenance,
    )
    key = generate_key(toy_data, "feature_sharing", source_class=1, target_class=0,
                       source_data=other, num_verify=20)
    assert not key.in_distribution
    assert key.reference_inputs is None and key.trigger is None
    assert key.source_dataset == "other"


def test_generate_key_errors(toy_data):
    with pytest.raises(ValueError, match="need a trigger"):
        generate_key(toy_data, "baseline", 0, 1)
    with pytest.raises(ValueError, match="must differ"):
        generate_key(toy_data, "baseline", 1, 1, trigger=PatchTrigger())
    with pytest.raises(ValueError, match="num_verify"):
        generate_key(toy_data, "baseline", 0, 1, trigger=PatchTrigger(), num_verify=10_000)
