"""Mean ± std over seeds of a recipe's per-seed results, and runs of one recipe combined."""

import numpy as np

from kwm.reports import is_independent

# What a run's results.json records of its own seeds and their making; the rest describes the
# experiment. Reference models are compared by what they are (their fingerprints), not by
# whether a run trained them or loaded them from the cache.
DERIVED_FIELDS = ("seeds", "summary", "attack_summary", "checks", "code", "reference_models")


def stats(values):
    """`{"mean", "std" (sample std; 0 for one value), "values"}` of a list of numbers."""
    values = np.asarray(values, dtype="float64")
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "values": values.tolist(),
    }


def summarize(seed_results):
    """Mean and std over seeds of each model's accuracies, fidelity, p-values and WDR."""
    summary = {}
    for name in seed_results[0]["models"]:
        rows = [r["models"][name] for r in seed_results]
        entry = {
            "accuracy": stats([r["accuracy"] for r in rows]),
            "watermark_accuracy": stats([r["watermark_accuracy"] for r in rows]),
            "claimed": [r["verification"]["claimed"] for r in rows],
        }
        if all("fidelity" in r for r in rows):  # suspects: top-1 agreement with the victim
            entry["fidelity"] = stats([r["fidelity"] for r in rows])
        for test in rows[0]["verification"]["verdicts"]:
            entry[f"{test}_p_value"] = stats(
                [r["verification"]["verdicts"][test]["p_value"] for r in rows]
            )
            entry[f"{test}_claimed"] = [
                r["verification"]["verdicts"][test]["claimed"] for r in rows
            ]
            entry[f"{test}_wdr"] = stats(
                [r["verification"]["detection_rates"][test] for r in rows]
            )
            entry[f"{test}_query_cost"] = [
                r["verification"]["query_costs"][test]["queries"] for r in rows
            ]
        summary[name] = entry
    return summary


def summarize_attacks(seed_results):
    """Per attack and setting, mean and std over seeds of the attacked stolen model's scores.

    Returns:
        `{attack: [{"setting", "accuracy", "watermark_accuracy",
        "<test>_p_value", "<test>_claimed", "<test>_wdr"}, ...]}`, empty when
        no attack ran.
    """
    if "attacks" not in seed_results[0]:
        return {}
    summary = {}
    for attack, cells in seed_results[0]["attacks"].items():
        rows = []
        for i, first in enumerate(cells):
            runs = [r["attacks"][attack][i] for r in seed_results]
            row = {
                "setting": first["setting"],
                "accuracy": stats([c["accuracy"] for c in runs]),
                "watermark_accuracy": stats([c["watermark_accuracy"] for c in runs]),
            }
            for test in first["p_values"]:
                row[f"{test}_p_value"] = stats([c["p_values"][test] for c in runs])
                row[f"{test}_claimed"] = [c["claimed"][test] for c in runs]
                row[f"{test}_wdr"] = stats([c["wdr"][test] for c in runs])
            if "neural_cleanse" in first:
                row["anomaly_index"] = stats(
                    [c["neural_cleanse"]["anomaly_index"] for c in runs]
                )
                row["flagged"] = [c["neural_cleanse"]["flagged"] for c in runs]
            rows.append(row)
        summary[attack] = rows
    return summary


def run_checks(seed_results, summary):
    """The checks a run reports: no innocent suspect claimed by any test, every victim claimed.

    Args:
        seed_results: list of dict. The per-seed results of a run.
        summary: dict. `summarize(seed_results)`.
    """
    independent = [  # every innocent suspect: the independent model and its kin
        verdict["claimed"]
        for r in seed_results
        for name, model in r["models"].items()
        if is_independent(name)
        for verdict in model["verification"]["verdicts"].values()
    ]
    return {
        "independent_model_claimed_by_no_test_on_any_seed": not any(independent),
        "victim_claimed_on_every_seed": all(summary["victim"]["claimed"]),
    }


def merge_runs(runs, code):
    """One run's results from the seeds of several runs of the same experiment.

    Seeds of one recipe run on several machines, or one after another with
    `--seed`, give one result each; merged, their summary is the mean ± std
    over all their seeds, as if one command had run them. Everything but the
    seeds must match: the configuration, the data, the thief's queries, the
    other datasets and the reference models.

    Args:
        runs: list of dict. The runs' `results.json` contents, at least two.
        code: dict. Provenance of the merge (`kwm.reports.code_provenance`);
            each run's own is kept under `merged_from`.

    Returns:
        A run's results (`seeds` in seed order, `summary`, `attack_summary`
        and `checks` computed again).

    Examples:

    >>> import json
    >>> runs = [json.load(open(f"run-{s}/results.json")) for s in (0, 1, 2)]  # doctest: +SKIP
    >>> merged = merge_runs(runs, code_provenance(["merge"]))  # doctest: +SKIP
    >>> [r["seed"] for r in merged["seeds"]]  # doctest: +SKIP
    [0, 1, 2]
    """
    if len(runs) < 2:
        raise ValueError(f"Merging takes at least two runs. Received: {len(runs)} run(s)")
    first = runs[0]
    for i, other in enumerate(runs[1:], start=1):
        fields = sorted(set(first) | set(other))
        differ = [f for f in fields if f not in DERIVED_FIELDS and first.get(f) != other.get(f)]
        if _reference_fingerprints(first) != _reference_fingerprints(other):
            differ.append("reference_models")
        if differ:
            raise ValueError(
                "Only runs of the same experiment merge: the same configuration, data, queries "
                f"and reference models. Run {i} differs from run 0 in {differ}. "
                f"Received: runs of {first['config']['experiment']['name']!r} and "
                f"{other['config']['experiment']['name']!r}"
            )
    seed_results = sorted((r for run in runs for r in run["seeds"]), key=lambda r: r["seed"])
    seeds = [r["seed"] for r in seed_results]
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"A seed may come from one run only. Received: seeds {seeds}")
    summary = summarize(seed_results)
    merged = {k: v for k, v in first.items() if k not in DERIVED_FIELDS}
    records = []
    for run in runs:
        records += [r for r in run.get("reference_models", []) if r not in records]
    merged.update(
        code={**code, "merged_from": [run["code"] for run in runs]},
        reference_models=records,
        seeds=seed_results,
        summary=summary,
        attack_summary=summarize_attacks(seed_results),
        checks=run_checks(seed_results, summary),
    )
    return {k: merged[k] for k in first if k in merged}


def _reference_fingerprints(results):
    return sorted(r["fingerprint"] for r in results.get("reference_models", []))
