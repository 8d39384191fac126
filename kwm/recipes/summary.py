"""Mean ± std over seeds of a recipe's per-seed results."""

import numpy as np


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
