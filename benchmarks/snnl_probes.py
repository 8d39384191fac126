"""Does the SNNL carry the transfer? EWE probes beside their `snnl_weight = 0` controls.

    python benchmarks/snnl_probes.py --pair NAME SNNL_RUN CONTROL_RUN [--pair ...] \
        --output benchmarks/results/ewe_snnl_probes/mnist.json

Each pair is two recipe runs (`python -m kwm.recipes.mnist --config ... --output RUN`) that differ
only in `ewe.snnl_weight`: the probe and its control. The script checks, seed by seed, that the two
runs' keys hold the same watermarks (embedding, verification and trigger-free inputs, trigger), so
the comparison is on the same keys; then it reports, per pair, the victims' task accuracy, and the
stolen copies' watermark accuracy minus their own false rate (the untriggered source inputs they
send to the target; for an out-of-distribution key, the rate calibrated on the owner's reference
models) with the SNNL and without it, and the difference seed by seed (mean ± sample
std). The bar: the SNNL measurably carries transfer when that difference is at least 15
points, with the victims within 1.5 points of their controls.
Writes JSON and Markdown (same name, `.md`).
"""

import argparse
import json
import os

import numpy as np

from kwm.recipes.summary import stats
from kwm.watermarks import WatermarkKey
from outputs import write_outputs

BAR_POINTS = 15.0
VICTIM_POINTS = 1.5


def _same_watermarks(run_a, run_b, seed):
    keys = [
        WatermarkKey.load(os.path.join(run, f"seed-{seed}", "watermark_key.json"))
        for run in (run_a, run_b)
    ]
    a, b = keys
    same = a.trigger == b.trigger and a.target_class == b.target_class
    for name in ("embed_inputs", "verify_inputs", "reference_inputs"):
        x, y = getattr(a, name), getattr(b, name)
        same = same and (x is None) == (y is None) and (x is None or np.array_equal(x, y))
    return same, a.trigger


def _seed_figures(seed_result):
    out = {}
    # An out-of-distribution key has no untriggered inputs: its false rate is the one calibrated
    # on the owner's reference models, committed in the key.
    calibrated = (seed_result.get("false_rate") or {}).get("value")
    for name in ("victim", "stolen", "independent"):
        model = seed_result["models"][name]
        rate = model["verification"].get("reference_rate")
        rate = calibrated if rate is None else rate
        wm = 100 * model["watermark_accuracy"]
        out[name] = {
            "accuracy": 100 * model["accuracy"],
            "watermark": wm,
            "false_rate": 100 * rate,
            "above_false_rate": wm - 100 * rate,
            "claimed": bool(model["verification"]["claimed"]),
            "claimed_by": sorted(
                test for test, v in model["verification"]["verdicts"].items() if v.get("claimed")
            ),
        }
    return out


def compare(name, snnl_run, control_run):
    runs = {}
    for label, run in (("snnl", snnl_run), ("control", control_run)):
        with open(os.path.join(run, "results.json")) as f:
            runs[label] = json.load(f)
    weights = {k: r["config"]["ewe"]["snnl_weight"] for k, r in runs.items()}
    if weights["control"] != 0 or weights["snnl"] <= 0:
        raise ValueError(
            "A pair is a run with the SNNL and its control with snnl_weight = 0. Received: "
            f"snnl_weight={weights['snnl']} and {weights['control']} for {name}"
        )
    seeds = [s["seed"] for s in runs["snnl"]["seeds"]]
    if seeds != [s["seed"] for s in runs["control"]["seeds"]]:
        raise ValueError(f"The two runs of {name} ran different seeds. Received: {seeds}")
    rows = []
    for i, seed in enumerate(seeds):
        same, trigger = _same_watermarks(snnl_run, control_run, seed)
        if not same:
            raise ValueError(
                f"{name}, seed {seed}: the two runs' keys hold different watermarks, so the "
                f"comparison would not be on the same keys. Received: {snnl_run}, {control_run}"
            )
        rows.append({
            "seed": seed,
            "trigger_position": getattr(trigger, "position", None),
            "snnl": _seed_figures(runs["snnl"]["seeds"][i]),
            "control": _seed_figures(runs["control"]["seeds"][i]),
        })

    def series(side, model, field):
        return [row[side][model][field] for row in rows]

    gain = np.subtract(series("snnl", "stolen", "above_false_rate"),
                       series("control", "stolen", "above_false_rate"))
    victim_gap = np.subtract(series("snnl", "victim", "accuracy"),
                             series("control", "victim", "accuracy"))
    ewe = runs["snnl"]["config"]["ewe"]
    summary = {
        "victim_accuracy": {s: stats(series(s, "victim", "accuracy")) for s in ("snnl", "control")},
        "stolen_watermark": {s: stats(series(s, "stolen", "watermark")) for s in ("snnl", "control")},
        "stolen_above_false_rate": {
            s: stats(series(s, "stolen", "above_false_rate")) for s in ("snnl", "control")
        },
        "stolen_claimed": {s: int(sum(series(s, "stolen", "claimed"))) for s in ("snnl", "control")},
        "independent_claimed_by_any_test": {
            s: int(sum(bool(x) for x in series(s, "independent", "claimed_by")))
            for s in ("snnl", "control")
        },
        "gain_points": stats(gain),
        "victim_gap_points": stats(victim_gap),
    }
    summary["meets_bar"] = bool(
        summary["gain_points"]["mean"] >= BAR_POINTS
        and abs(summary["victim_gap_points"]["mean"]) <= VICTIM_POINTS
    )
    return {
        "name": name,
        "runs": {"snnl": snnl_run, "control": control_run},
        "recipe": runs["snnl"]["config"]["experiment"]["name"],
        "command": runs["snnl"]["code"].get("command"),
        "ewe": {k: ewe[k] for k in ("layers", "snnl_weight", "temperatures", "distance",
                                    "temperature_step", "refine_iterations")},
        "decision_test": runs["snnl"]["config"]["verification"]["decision_test"],
        "seeds": rows,
        "summary": summary,
    }


def _pm(entry, digits=1):
    return f"{entry['mean']:.{digits}f} ± {entry['std']:.{digits}f}"


def _settings(ewe):
    temperatures = ", ".join(f"{t:g}" for t in ewe["temperatures"])
    text = (f"{ewe['distance']} distance on {', '.join(ewe['layers'])}, T = {temperatures} "
            f"(step on {'T_ref = 100 / T' if ewe['temperature_step'] == 'inverse' else 'T'}), "
            f"w = {ewe['snnl_weight']:g}")
    if ewe["refine_iterations"]:
        text += f", watermarks refined {ewe['refine_iterations']} rounds"
    return text


def render(pairs):
    lines = [
        "# Does the SNNL carry the transfer? EWE probes beside their controls",
        "",
        "Each probe is a recipe run; its control is the same recipe with `snnl_weight = 0`, on the "
        "same keys (the same watermarks, checked seed by seed). \"above false\": the stolen "
        "copies' watermark accuracy minus the share of untriggered source inputs they send to "
        "the target (an out-of-distribution key: minus the false rate calibrated on the owner's "
        "reference models), in points; gain: that figure with the SNNL minus without it, seed by "
        "seed. "
        f"The bar: a gain of at least {BAR_POINTS:g} points with the victims within "
        f"{VICTIM_POINTS:g} points of their controls. Mean ± sample std over seeds.",
        "",
        "| probe | victim acc. % (SNNL / w = 0) | copies' watermark % (SNNL / w = 0) | above false, "
        "points (SNNL / w = 0) | gain, points | claimed (SNNL / w = 0) | meets the bar |",
        "|---|---|---|---|---|---|---|",
    ]
    for pair in pairs:
        s = pair["summary"]
        n = len(pair["seeds"])
        lines.append(
            f"| {pair['name']} | {_pm(s['victim_accuracy']['snnl'], 2)} / "
            f"{_pm(s['victim_accuracy']['control'], 2)} | {_pm(s['stolen_watermark']['snnl'])} / "
            f"{_pm(s['stolen_watermark']['control'])} | {_pm(s['stolen_above_false_rate']['snnl'])}"
            f" / {_pm(s['stolen_above_false_rate']['control'])} | {_pm(s['gain_points'])} | "
            f"{s['stolen_claimed']['snnl']}/{n} / {s['stolen_claimed']['control']}/{n} | "
            f"{'yes' if s['meets_bar'] else 'no'} |"
        )
    lines += ["", "Seed by seed (copies' watermark accuracy / false rate, %):", ""]
    for pair in pairs:
        lines.append(f"- **{pair['name']}** (`{pair['recipe']}`: {_settings(pair['ewe'])}):")
        for row in pair["seeds"]:
            a, b = row["snnl"]["stolen"], row["control"]["stolen"]
            where = (f"trigger {row['trigger_position']}" if row["trigger_position"] is not None
                     else "no trigger, false rate calibrated on the reference models")
            lines.append(
                f"  seed {row['seed']} ({where}): SNNL {a['watermark']:.1f} / "
                f"{a['false_rate']:.1f}, w = 0 {b['watermark']:.1f} / {b['false_rate']:.1f}; "
                f"gain {a['above_false_rate'] - b['above_false_rate']:+.1f}"
            )
        independents = pair["summary"]["independent_claimed_by_any_test"]
        watermark = ", ".join(
            f"{row[side]['independent']['watermark']:.1f}"
            for side in ("snnl", "control") for row in pair["seeds"]
        )
        lines.append(
            f"  independent models: watermark accuracy {watermark}% (SNNL runs, then w = 0); "
            f"claimed by any test: {independents['snnl']} and {independents['control']}"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", nargs=3, action="append", required=True,
                        metavar=("NAME", "SNNL_RUN", "CONTROL_RUN"))
    parser.add_argument("--output", required=True, help="JSON file (the Markdown goes beside it)")
    args = parser.parse_args(argv)
    pairs = [compare(*pair) for pair in args.pair]
    document = {"pairs": pairs, "bar_points": BAR_POINTS, "victim_points": VICTIM_POINTS}
    write_outputs(args.output, document, render(pairs))


if __name__ == "__main__":
    main()
