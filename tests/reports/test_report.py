"""The Markdown report of a recipe run."""

import copy
import json
import os

from kwm.reports.report import render_markdown

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _committed(name):
    with open(os.path.join(ROOT, "benchmarks", "results", name, "results.json")) as f:
        return json.load(f)


def _verify_hint(results):
    return next(line for line in render_markdown(results).splitlines() if "--suspect <model>" in line)


def test_the_verify_command_a_report_gives_replays_the_recipes_decision():
    results = _committed("mnist")  # the papers' tests, the Wilcoxon test deciding, T = 4
    hint = _verify_hint(results)
    assert "--tests" not in hint and "--decision-test" not in hint and "--temperature 4`" in hint
    paired = copy.deepcopy(results)
    paired["config"]["verification"]["tests"] = ["t_test", "paired_t_test", "wilcoxon"]
    paired["config"]["verification"]["decision_test"] = "paired_t_test"
    for seed in paired["seeds"]:  # the summary table reads every test's verdicts
        for model in seed["models"].values():
            for part in ("verdicts", "detection_rates", "query_costs"):
                model["verification"][part]["paired_t_test"] = model["verification"][part]["t_test"]
    paired["summary"] = {
        name: {**entry, **{k.replace("t_test", "paired_t_test"): v
                           for k, v in entry.items() if k.startswith("t_test")}}
        for name, entry in paired["summary"].items()
    }
    hint = _verify_hint(paired)
    assert "--tests t_test paired_t_test wilcoxon --decision-test paired_t_test" in hint
    assert "paired T-test" in render_markdown(paired)


def test_a_natural_word_key_verified_on_held_out_training_texts_is_reported():
    results = copy.deepcopy(_committed("imdb"))
    assert "112 test)" in render_markdown(results)
    for seed in results["seeds"]:
        seed["natural_sources"] = {"train": 573, "verify_eligible": 90}
    text = render_markdown(results)
    assert "573 in the training split, 90 of them held out for verification)" in text
