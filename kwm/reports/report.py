"""JSON and Markdown reports of a recipe run."""

import json
import os

from kwm.reports.plots import plot_accuracy_bars, plot_attack_curves, plot_watermark_inputs
from kwm.verification import DEFAULT_TESTS

# Paper quantity `<model>_<suffix>` -> summary metric of that model.
_PAPER_METRICS = {
    "accuracy": "accuracy",
    "watermark": "watermark_accuracy",
    "wdr": "{decision}_wdr",
}
_TEST_NAMES = {"t_test": "T-test", "paired_t_test": "paired T-test", "wilcoxon": "Wilcoxon"}


def _test_name(test):
    # "the T-test", "the Wilcoxon test"
    name = _TEST_NAMES.get(test, test)
    return name if name.lower().endswith("test") else f"{name} test"


def write_json(results, path):
    """Writes `results` as indented JSON (NaN-free)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, sort_keys=False, allow_nan=False, default=str)
        f.write("\n")


def _pct(stat):
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def _p_value(p):
    return "< 1e-300" if p == 0 else f"{p:.3g}"  # below float64's range


def _role(test, decision):
    """The column heading of a test's counts: claims for the decision test, else evidence."""
    return "claimed (decision)" if test == decision else "H0 rejected (evidence)"


def _p(stat):
    values = stat["values"]
    if len(values) == 1:
        return _p_value(values[0])
    return f"median {_p_value(sorted(values)[len(values) // 2])} (max {_p_value(max(values))})"


def _attack_lines(attack_summary, tests, decision):
    """The attack-matrix row of this recipe: every attack on the stolen model, per setting."""
    lines = [
        "## Attacks on the stolen model",
        "",
        "Each attack starts from the stolen model of every seed (removal) or re-extracts a copy "
        "from degraded answers (hard labels, quantisation); the result is verified with the same "
        "key as the suspects above. Plot: `attacks.png`.",
        "",
    ]
    header = ["attack", "setting", "task accuracy %", "watermark accuracy %"]
    for test in tests:
        header += [f"{_TEST_NAMES[test]} p", f"{_TEST_NAMES[test]} {_role(test, decision)}"]
    header.append("Neural Cleanse anomaly index (flagged)")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for attack, rows in attack_summary.items():
        for row in rows:
            cells = [attack.replace("_", " "), str(row["setting"]), _pct(row["accuracy"]),
                     _pct(row["watermark_accuracy"])]
            for test in tests:
                cells += [_p(row[f"{test}_p_value"]), _count(row[f"{test}_claimed"])]
            if "anomaly_index" in row:
                index = row["anomaly_index"]
                cells.append(f"{index['mean']:.2f} ± {index['std']:.2f} ({_count(row['flagged'])})")
            else:
                cells.append("")
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"A claim by the decision test ({_TEST_NAMES[decision]}) means the attack left enough "
        "watermark to prove ownership; Neural Cleanse flags a model when the anomaly index "
        "exceeds 2.",
        "",
    ]
    return lines


def _count(flags):
    return f"{sum(flags)}/{len(flags)}"


def query_cost_range(costs):
    """`"20–60"`-style text of per-seed query costs (None: never reached)."""
    reached = [c for c in costs if c is not None]
    if not reached:
        return "not reached"
    text = f"{min(reached)}–{max(reached)}" if len(set(reached)) > 1 else f"{reached[0]}"
    if len(reached) < len(costs):
        text += f" ({len(costs) - len(reached)} seeds never)"
    return text


def paper_rows(results):
    """Rows `(quantity, kwm, {table: paper})` comparing kwm with the papers' tables."""
    summary = results["summary"]
    decision = results["config"]["verification"]["decision_test"]
    tables = results["config"].get("paper", {})
    quantities = []
    for table in tables.values():
        for name in table:
            if name not in quantities:
                quantities.append(name)
    rows = []
    for quantity in quantities:
        model, _, metric = quantity.partition("_")
        key = _PAPER_METRICS.get(metric, metric).format(decision=decision)
        ours = summary.get(model, {}).get(key)
        paper = {}
        for table, values in tables.items():
            value = values.get(quantity)
            paper[table] = f"{value[0]:.2f} ± {value[1]:.2f}" if value else ""
        rows.append((quantity.replace("_", " "), _pct(ours) if ours else "n/a", paper))
    return rows


def independent_name(dataset=None):
    """The results' name of the independent model (`dataset` None) or of the one trained on
    another dataset of the task.

    Examples:

    >>> independent_name(), independent_name("sst2")
    ('independent', 'independent_sst2')
    """
    return "independent" if dataset is None else f"independent_{dataset}"


def is_independent(name):
    """Whether a results' model name is an innocent suspect (`independent_name`)."""
    return name == "independent" or name.startswith("independent_")


_PLAIN = {
    "victim": "The victim (the watermarked model, as served)",
    "stolen": "The stolen copy",
    "independent": "The independent model (trained without the key)",
}


def plain_verdicts(summary, decision_test):
    """One sentence per model: claimed on how many seeds, with how many queries.

    Args:
        summary: dict. `results["summary"]` of a recipe run.
        decision_test: str. The test that decides a claim.

    Examples:

    >>> summary = {"stolen": {"claimed": [True, False], "wilcoxon_query_cost": [40, None]},
    ...            "independent": {"claimed": [False, False], "wilcoxon_query_cost": [None, None]}}
    >>> for line in plain_verdicts(summary, "wilcoxon"): print(line)
    The stolen copy is claimed on 1 of 2 seeds (40 queries suffice on 95% of random draws).
    The independent model (trained without the key) is claimed on 0 of 2 seeds: no false accusation.
    """
    lines = []
    for name, entry in summary.items():
        claimed = sum(entry["claimed"])
        other = name[len("independent_"):] if is_independent(name) else None
        subject = _PLAIN.get(name) or (
            f"The independent model trained on {other} (another dataset of the task)"
            if other
            else f"The {name} model"
        )
        line = f"{subject} is claimed on {claimed} of {len(entry['claimed'])} seeds"
        costs = [c for c in entry.get(f"{decision_test}_query_cost", []) if c is not None]
        if claimed and costs:
            line += f" ({query_cost_range(costs)} queries suffice on 95% of random draws)"
        if is_independent(name):
            line += ": FALSE ACCUSATION" if claimed else ": no false accusation"
        lines.append(line + ".")
    return lines


def natural_sources_text(sources):
    """How many texts held a natural-word key's word, in words ("" for other keys)."""
    if not sources:
        return ""
    if "verify_eligible" in sources:  # verified on training texts held out of the sample
        return (
            f" (the source-class texts that hold the key's word: {sources['train']} in the training "
            f"split, {sources['verify_eligible']} of them held out for verification)"
        )
    return (
        f" (the source-class texts that hold the key's word: {sources['train']} training, "
        f"{sources['test']} test)"
    )


def render_markdown(results):
    """The Markdown report of a recipe run (see `kwm.recipes.cli`)."""
    config = results["config"]
    experiment = config["experiment"]
    summary = results["summary"]
    seeds = [r["seed"] for r in results["seeds"]]
    tests = config["verification"]["tests"]
    decision = config["verification"]["decision_test"]
    lines = [
        f"# kwm report: {experiment['name']}",
        "",
        f"**Reproduces**: {experiment['reproduces']}  ",
        f"**Method**: {experiment['method']} — {experiment['description']}  ",
        f"**Seeds**: {len(seeds)} ({', '.join(map(str, seeds))}); figures are mean ± std over "
        "seeds (sample std).  ",
        f"**Data**: {results['data']['description']}  ",
    ]
    if results.get("source_data"):
        lines.append(f"**Watermark sources**: {results['source_data']['description']}  ")
    if results.get("query_data"):
        lines.append(f"**Thief's queries**: {results['query_data']['description']}  ")
    for other in (results.get("other_data") or {}).values():
        lines.append(f"**Other data of the task**: {other['description']}  ")
    temperature = config.get("serving", {}).get("temperature", 1.0)
    if temperature != 1.0:
        lines.append(
            f"**Served probabilities**: the victim's API answers `softmax(log p / {temperature:g})` "
            "(`kwm.export.ServingTemperature`; same decisions, softer answers), not its own "
            "probabilities.  "
        )
    lines += [
        f"**Command**: `{results['code']['command']}`",
        "",
        f"**In plain words** (kwm's decision rule: the {_test_name(decision)} at significance "
        f"{config['verification']['significance']:g}):",
        "",
    ]
    lines += [f"- {line}" for line in plain_verdicts(summary, decision)]
    lines += [
        "",
        "## Models and verdicts",
        "",
        "Task accuracy on the test split; fidelity = a suspect's top-1 agreement with the "
        "victim's API on the test split (how faithful a copy is; what the task alone gives "
        "an innocent model); watermark accuracy on the key's held-out "
        "verification watermarks (never trained on); p-values of the ownership tests "
        f"(significance {config['verification']['significance']}); claims per seed; WDR over "
        f"{config['verification']['wdr_draws']} random subsets of "
        f"{100 * config['verification']['wdr_fraction']:.0f}% of the watermarks; query cost "
        "= fewest queries that claim on ≥ 95% of random draws.",
        "",
    ]
    header = ["model", "task accuracy %", "fidelity %", "watermark accuracy %"]
    for test in tests:
        name = _TEST_NAMES[test]
        header += [
            f"{name} p", f"{name} {_role(test, decision)}", f"{name} WDR %", f"{name} query cost"
        ]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for model, entry in summary.items():
        row = [
            model,
            _pct(entry["accuracy"]),
            _pct(entry["fidelity"]) if "fidelity" in entry else "—",
            _pct(entry["watermark_accuracy"]),
        ]
        for test in tests:
            row += [
                _p(entry[f"{test}_p_value"]),
                _count(entry[f"{test}_claimed"]),
                _pct(entry[f"{test}_wdr"]),
                query_cost_range(entry[f"{test}_query_cost"]),
            ]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        f"The decision test is **{_TEST_NAMES[decision]}**: a model is claimed when it rejects "
        "its null hypothesis; the other tests are evidence (H0 rejected or kept), never a claim "
        "on their own."
        + (
            f" The T-tests' margin adds to EWE's {config['verification']['t_test_margin']:g} the "
            "largest trigger effect of the owner's reference models (per key, in "
            "`trigger_check`)."
            + (
                " The paired T-test tests the same hypotheses as EWE's two-sample T-test on "
                "each verification input beside itself without the trigger: inputs a suspect "
                "answers alike both ways cancel."
                if "paired_t_test" in tests
                else ""
            )
            if "t_test" in tests or "paired_t_test" in tests
            else ""
        ),
        "",
    ]

    rows = paper_rows(results)
    if rows:
        tables = list(config["paper"])
        lines += ["## Beside the paper", "", "| quantity (%) | kwm | " + " | ".join(tables) + " |"]
        lines.append("|" + "---|" * (2 + len(tables)))
        for quantity, ours, paper in rows:
            lines.append(f"| {quantity} | {ours} | " + " | ".join(paper[t] for t in tables) + " |")
        lines += [
            "",
            "Paper figures are as published (the full official datasets); kwm's come "
            "from the data named above.",
            "",
        ]

    attack_summary = results.get("attack_summary")
    if attack_summary:
        lines += _attack_lines(attack_summary, tests, decision)

    lines += ["## Checks", ""]
    for check, value in results["checks"].items():
        lines.append(f"- {check.replace('_', ' ')}: **{'yes' if value else 'NO'}**")
    lines += ["", "## Per seed", ""]
    for seed_result in results["seeds"]:
        lines.append(
            f"### Seed {seed_result['seed']} — key sha256 `{seed_result['key_fingerprint']}`"
        )
        lines.append("")
        lines.append(
            f"{seed_result['num_embed']} embedding watermarks, {seed_result['num_verify']} "
            f"verification watermarks"
            + natural_sources_text(seed_result.get("natural_sources"))
            + "; timings (s): "
            + ", ".join(f"{k} {v}" for k, v in seed_result["timings"].items())
        )
        false_rate = seed_result.get("false_rate")
        if false_rate:
            lines.append("")
            lines.append(
                f"Out-of-distribution key: false watermark rate {100 * false_rate['value']:.1f}% "
                f"({false_rate['rule']}; "
                + ", ".join(f"{100 * r:.1f}%" for r in false_rate["rates"])
                + f" over {false_rate['num_inputs']} verification inputs: "
                + "; ".join(false_rate["models"]) + ")."
            )
        class_pair = seed_result.get("class_pair")
        if class_pair:
            lines.append("")
            passed = class_pair.get("passed_over") or []
            lines.append(
                f"Class pair {seed_result['source_class']} -> {seed_result['target_class']}: "
                f"{class_pair['rule']}; similarity {class_pair['similarity']:.3f}"
                + (
                    f", confused {100 * class_pair['confusion']:.1f}% of the time"
                    if class_pair.get("confusion") is not None
                    else ""
                )
                + (
                    "; passed over: "
                    + ", ".join(
                        f"{p['source_class']} -> {p['target_class']} "
                        f"({p['similarity']:.3f}, {100 * p['confusion']:.1f}%)"
                        for p in passed
                    )
                    if passed
                    else ""
                )
                + "."
            )
        trigger_check = seed_result.get("trigger_check")
        if trigger_check:
            lines.append("")
            refused = trigger_check.get("refused", [])
            lines.append(
                "Trigger check: the trigger alone moves the reference models by "
                + ", ".join(f"{100 * e:+.1f}" for e in trigger_check["effects"])
                + f" points towards the target (allowed {100 * trigger_check['max_allowed']:g})"
                + (
                    "; refused before it: "
                    + "; ".join(
                        f"position {(c['trigger'] or {}).get('position')} (+{100 * c['value']:.1f})"
                        for c in refused
                    )
                    if refused
                    else ""
                )
                + "."
            )
        lines.append("")
        lines.append("```")
        for model, entry in seed_result["models"].items():
            lines.append(
                f"{model}: task accuracy {100 * entry['accuracy']:.2f}%"
                + (f", fidelity {100 * entry['fidelity']:.2f}%" if "fidelity" in entry else "")
            )
            lines.append(entry["summary"])
        lines.append("```")
        lines.append("")
    data = results["data"]
    lines += ["## Provenance", "", "### Data", ""]
    for label, provenance in (
        ("task", data),
        ("watermark sources", results.get("source_data")),
        ("thief's queries", results.get("query_data")),
        *(
            ("other data of the task", other)
            for other in (results.get("other_data") or {}).values()
        ),
    ):
        if not provenance:
            continue
        p = provenance["provenance"]
        lines.append(
            f"- {label}: **{p['dataset']}** from **{p['source']}** at `{p['location']}`; "
            f"splits {p['splits']}; licence {p['licence']}; {p['citation']}"
        )
        if p.get("notes"):
            lines.append(f"  - {p['notes']}")
        for name, digest in p["files"].items():
            lines.append(f"  - `{name}` sha256 `{digest}`")
        for attempt in p.get("attempts", []):
            lines.append(f"  - tried first: {attempt}")
    code = results["code"]
    lines += ["", "### Code", ""]
    for k, v in code.items():
        if k == "merged_from":  # a merged run: each run's own command and commit
            for run in v:
                lines.append(
                    f"- merged from `{run['command']}` (commit `{run['git_commit']}`"
                    + (", uncommitted changes" if run.get("git_dirty") else "")
                    + f", {run['utc_time']})"
                )
        else:
            lines.append(f"- {k}: `{v}`")
    lines.append(
        f"- recipe: `{experiment['config_file']}` (full configuration in results.json)"
    )
    for record in results.get("reference_models", []):
        if record["source"] == "cache":
            trained_by = record.get("trained_by") or {}
            lines.append(
                f"- reference model seed {record['seed']}: loaded from `{record['file']}` "
                f"(sha256 `{record['file_sha256']}`), trained by commit "
                f"`{trained_by.get('git_commit')}` at {trained_by.get('utc_time')}"
            )
        else:
            lines.append(
                f"- reference model seed {record['seed']}: trained in this run"
                + (f", saved to `{record['file']}`" if record.get("file") else "")
            )
    lines += [
        "",
        "## Files",
        "",
        "- `results.json`: everything above, machine-readable.",
        "- `watermark_inputs.png`, `accuracy.png`: figures; `seed-*/representations.png`: "
        "activation patterns and a 2-D projection of the victim's hidden layers on target-class "
        "inputs and watermarks (EWE Figs. 2-4).",
        "- `seed-*/watermark_key.json`: **the secret watermark keys** (with their SHA-256 "
        "fingerprints); keep them private. Verify a suspect with "
        "`python -m kwm.verify --key seed-0/watermark_key.json --suspect <model>"
        + (
            f" --tests {' '.join(tests)} --decision-test {decision}"
            if (tuple(tests), decision) != (DEFAULT_TESTS, "wilcoxon")
            else ""
        )
        + (f" --temperature {temperature:g}" if temperature != 1.0 else "")
        + "`.",
        "- `seed-*/victim_savedmodel/`: the victim as served (SavedModel, no key inside); "
        "`stolen_savedmodel/`, `independent_savedmodel/`"
        + "".join(
            f", `{name}_savedmodel/`"
            for name in summary
            if is_independent(name) and name != independent_name()
        )
        + ": the suspects, so that each verdict can be replayed with `python -m kwm.verify`.",
        "",
    ]
    return "\n".join(lines)


def write_run_report(results, directory, key=None):
    """Writes a recipe run's report and headline figures from its results.

    Everything comes from `results` (what the run saved as `results.json`),
    so a finished run's report can be rendered again: `python -m kwm.reports
    RUN`. Writes `accuracy.png`, `attacks.png` (when the run attacked its
    stolen copies), `watermark_inputs.png` (given the run's first key) and
    `report.md`; `results.json` is the caller's to write.

    Args:
        results: dict. A recipe run's results.
        directory: str. The run's folder.
        key: WatermarkKey or None. The first seed's key, for its figure.

    Returns:
        The path of `report.md`.

    Examples:

    >>> import json
    >>> results = json.load(open("run/results.json"))  # doctest: +SKIP
    >>> write_run_report(results, "run")  # doctest: +SKIP
    'run/report.md'
    """
    name = results["config"]["experiment"]["name"]
    seeds = len(results["seeds"])
    if key is not None:
        plot_watermark_inputs(key, os.path.join(directory, "watermark_inputs.png"))
    plot_accuracy_bars(
        results["summary"],
        os.path.join(directory, "accuracy.png"),
        title=f"{name}: mean ± std over {seeds} seed(s)",
    )
    if results.get("attack_summary"):
        plot_attack_curves(
            results["attack_summary"],
            os.path.join(directory, "attacks.png"),
            title=f"{name}: attacks on the stolen model, {seeds} seed(s)",
        )
    md_path = os.path.join(directory, "report.md")
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(render_markdown(results))
    return md_path
