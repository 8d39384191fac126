"""The `kwm` command: verify (exit 0 claimed, 1 not, 2 bad input), replay, key show, serve."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import toy_independent as independent
from conftest import toy_key as _key
from conftest import toy_stolen as stolen
from kwm import WatermarkKey, cli, verify
from kwm.rest import serve


@pytest.fixture(scope="module")
def key_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("key") / "key.json"
    fingerprint = _key().save(path)
    return str(path), fingerprint


@pytest.fixture(scope="module")
def servers():
    running = {name: serve(fn, name=name, background=True)
               for name, fn in (("stolen", stolen), ("independent", independent))}
    running["stolen_labels"] = serve(stolen, name="stolen", answers="labels", background=True)
    yield {name: server.url for name, server in running.items()}
    for server in running.values():
        server.shutdown()
        server.server_close()


def test_a_served_copy_is_claimed_and_an_independent_model_is_not(key_file, servers, tmp_path,
                                                                    capsys):
    key, fingerprint = key_file
    claim = tmp_path / "claim.json"
    assert cli.main(["verify", "--key", key, "--suspect", servers["stolen"],
                     "--fingerprint", fingerprint, "--output", str(claim)]) == 0
    assert "VERDICT: OWNERSHIP CLAIMED" in capsys.readouterr().out
    document = json.loads(claim.read_text())
    assert document["format"] == "kwm-claim/1" and document["claimed"] is True
    assert document["suspect"] == {"kind": "url", "location": servers["stolen"]}
    assert document["key_fingerprint"] == fingerprint and document["kwm_version"]
    answers = document["report"]["answers"]
    assert answers["indices"] == list(range(60)) and len(answers["sha256"]) == 64
    assert document["report"]["verdicts"]["wilcoxon"]["claimed"] is True
    out = tmp_path / "independent.json"
    assert cli.main(["verify", "--key", key, "--suspect", servers["independent"],
                     "--output", str(out)]) == 1
    assert json.loads(out.read_text())["claimed"] is False
    # `python -m kwm.verify` is the same command.
    assert verify.main(["--key", key, "--suspect", servers["independent"]]) == 1


def test_a_claim_replays_offline_and_an_edited_one_does_not(key_file, servers, tmp_path, capsys):
    key, _ = key_file
    claim = tmp_path / "claim.json"
    assert cli.main(["verify", "--key", key, "--suspect", servers["stolen"],
                     "--budget", "50", "--output", str(claim)]) == 0
    printed = capsys.readouterr().out
    assert "queries used: 50 of a budget of 50" in printed
    assert cli.main(["replay", str(claim), "--key", key]) == 0
    assert "every recorded verdict is reproduced" in capsys.readouterr().out
    document = json.loads(claim.read_text())
    assert document["report"]["num_queries"] == 50 and document["report"]["answers"]["indices"] == list(range(25))
    document["report"]["answers"]["watermark"][0] = [1.0, 0.0, 0.0]
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    assert cli.main(["replay", str(edited), "--key", key]) == 2
    assert "do not match their SHA-256" in capsys.readouterr().err
    other = tmp_path / "other.json"
    WatermarkKey("baseline", "toy", 3, target_class=1, source_class=0, source_dataset="toy",
                 trigger=None, seed=1, embed_inputs=np.zeros((2, 4), "float32"),
                 verify_inputs=np.ones((10, 4), "float32"),
                 reference_inputs=np.zeros((10, 4), "float32")).save(other)
    assert cli.main(["replay", str(claim), "--key", str(other)]) == 2
    assert "not the one committed to" in capsys.readouterr().err


def test_a_label_only_suspect_is_decided_by_the_t_test(key_file, servers, capsys):
    key, _ = key_file
    assert cli.main(["verify", "--key", key, "--suspect", servers["stolen_labels"]]) == 0
    printed = capsys.readouterr().out
    assert "[decision] H0 rejected: EWE two-sample T-test" in printed
    assert "[not run] Wilcoxon signed-rank test with alpha-certainty: needs class probabilities" in printed
    assert "VERDICT: OWNERSHIP CLAIMED by kwm's decision rule, the EWE two-sample T-test" in printed


def test_bad_input_is_exit_2_with_one_line_and_nothing_written(key_file, servers, tmp_path,
                                                                capsys):
    key, _ = key_file
    tampered = tmp_path / "tampered.json"
    document = json.loads(open(key).read())
    document["key"]["target_class"] = 0
    tampered.write_text(json.dumps(document))

    def bad(data):  # a model answering 5 classes
        return np.full((len(data), 5), 0.2, "float32")

    wrong = serve(bad, background=True)
    try:
        for argv, reason in (
            (["--key", str(tampered), "--suspect", servers["stolen"]], "modified after"),
            (["--key", key, "--suspect", "http://127.0.0.1:9/v1/models/m:predict",
              "--retries", "0", "--timeout", "1"], "did not answer"),
            (["--key", key, "--suspect", wrong.url], "5 classes but 3 are expected"),
            (["--key", key, "--suspect", servers["stolen"], "--budget", "4"], "at least 5"),
            (["--key", key, "--suspect", str(tmp_path / "missing")], "SavedModel directory"),
            (["--key", key, "--suspect", servers["stolen"], "--fingerprint", "ab" * 8],
             "not the one committed to"),
        ):
            out = tmp_path / "claim.json"
            assert cli.main(["verify", *argv, "--output", str(out)]) == 2
            err = capsys.readouterr().err
            assert reason in err and err.count("\n") == 1 and err.startswith("error: ")
            assert not out.exists()
    finally:
        wrong.shutdown()
        wrong.server_close()


def test_key_show_prints_public_facts_only(key_file, capsys):
    key, fingerprint = key_file
    assert cli.main(["key", "show", key]) == 0
    printed = capsys.readouterr().out
    assert f"sha256:{fingerprint}" in printed and "baseline" in printed
    assert "toy, 3 classes" in printed and "60, each with a trigger-free reference" in printed
    assert "queries for a full claim  120" in printed
    secret = json.loads(open(key).read())["key"]
    assert not any(len(str(v)) > 40 and str(v) in printed for v in secret.values())


def test_the_console_script_serves_and_verifies(tmp_path, key_file):
    """`kwm serve` prints the URL a script passes to `kwm verify --suspect`."""
    import keras

    from kwm import export_for_serving

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    path = export_for_serving(model, tmp_path / "served")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    server = subprocess.Popen(
        [sys.executable, "-m", "kwm.cli", "serve", str(path), "--port", "0", "--name", "api"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    try:
        line = server.stdout.readline()
        assert line.startswith(f"serving {path} at http://127.0.0.1:")
        url = line.split(" at ")[1].strip()
        assert url.endswith("/v1/models/api:predict")
        result = subprocess.run(
            [sys.executable, "-m", "kwm.verify", "--key", key_file[0], "--suspect", url],
            capture_output=True, text=True, env=env, timeout=120,
        )
        assert result.returncode == 1, result.stderr  # an untrained model is not claimed
        assert "VERDICT: ownership not claimed" in result.stdout
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_verify_follows_the_keys_protocol_unless_told_otherwise(servers, tmp_path, capsys):
    import dataclasses

    protocol = {"tests": ["t_test", "paired_t_test", "wilcoxon"], "decision_test": "paired_t_test",
                "significance": 0.01, "alpha_certainty": 0.3, "t_test_margin": 0.1,
                "temperature": 1.0}
    path = tmp_path / "key.json"
    dataclasses.replace(_key(), protocol=protocol).save(path)
    claim = tmp_path / "claim.json"
    assert cli.main(["verify", "--key", str(path), "--suspect", servers["stolen"],
                     "--output", str(claim)]) == 0
    printed = capsys.readouterr().out
    assert "settings from the key's protocol: tests=t_test paired_t_test wilcoxon, " \
           "decision_test=paired_t_test, significance=0.01" in printed
    assert "VERDICT: OWNERSHIP CLAIMED by kwm's decision rule, the paired T-test" in printed
    document = json.loads(claim.read_text())
    settings = document["settings"]
    assert settings["decision_test"] == "paired_t_test" and settings["significance"] == 0.01
    assert set(document["settings_from"].values()) == {"key"}
    assert cli.main(["replay", str(claim), "--key", str(path)]) == 0
    capsys.readouterr()
    # A flag wins over the key; a decision test outside the tests run is refused.
    assert cli.main(["verify", "--key", str(path), "--suspect", servers["stolen"],
                     "--decision-test", "wilcoxon"]) == 0
    printed = capsys.readouterr().out
    assert "the Wilcoxon signed-rank test" in printed and "decision_test=" not in printed
    assert cli.main(["verify", "--key", str(path), "--suspect", servers["stolen"],
                     "--tests", "t_test", "wilcoxon"]) == 2
    err = capsys.readouterr().err
    assert "paired_t_test (the key's protocol) with tests t_test wilcoxon (given)" in err
    # The library follows the key's protocol too.
    from kwm import verify_ownership

    assert verify_ownership(stolen, WatermarkKey.load(path)).decision_test == "paired_t_test"
    assert cli.main(["key", "show", str(path)]) == 0
    assert "verification protocol     tests=t_test paired_t_test wilcoxon, " \
           "decision_test=paired_t_test" in capsys.readouterr().out
