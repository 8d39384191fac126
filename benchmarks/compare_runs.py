"""Two runs of a recipe side by side, seed by seed: key, trigger check, copies and claims.

    python benchmarks/compare_runs.py OLD/results.json NEW/results.json [--output FILE.md]

For each seed: the class pair and the trigger positions refused, the largest trigger
effect on the reference models (and on how many), the T-test margin, the victim's task accuracy
and the share of its untriggered source inputs it sends to the target, and for the stolen and
independent models the watermark accuracy (beside that untriggered share) and each test's p-value
and verdict (the decision test marked); then the victims' task accuracy and the stolen copies'
watermark accuracy as mean ± std and the claims per test.
An earlier run can be read from git: `git show COMMIT:benchmarks/results/RUN/results.json > old.json`.
"""

import argparse
import json

import numpy as np


def _position(seed):
    check = seed.get("trigger_check") or {}
    models = check.get("models") or []
    return check, len(models)


def _untriggered(model):
    rate = model["verification"].get("reference_rate")
    return "—" if rate is None else f"{100 * rate:.1f}"


def _rows(label, results):
    decision = results["config"]["verification"]["decision_test"]
    tests = results["config"]["verification"]["tests"]
    lines = []
    for seed in results["seeds"]:
        check, count = _position(seed)
        refused = ", ".join(
            f"{c['trigger']['position']} ({100 * c['value']:+.1f})" for c in check.get("refused", [])
        ) or "none"
        stolen = seed["models"]["stolen"]
        verdicts = stolen["verification"]["verdicts"]
        margin = verdicts["t_test"]["details"]["margin"] if "t_test" in verdicts else None
        independent = seed["models"]["independent"]["verification"]["verdicts"]
        victim = seed["models"]["victim"]
        cells = [
            label,
            str(seed["seed"]),
            f"{seed['source_class']} -> {seed['target_class']}",
            refused,
            f"{100 * check['value']:+.1f} ({count})" if check else "not checked",
            "" if margin is None else f"{margin:.3g}",
            f"{100 * victim['accuracy']:.2f} / {_untriggered(victim)}",
            f"{100 * stolen['watermark_accuracy']:.1f} / {_untriggered(stolen)}",
        ]
        for test in tests:
            mark = "**" if test == decision else ""
            cells.append(
                f"{mark}{'yes' if verdicts[test]['claimed'] else 'no'}{mark} "
                f"(p={verdicts[test]['p_value']:.2g})"
            )
        cells.append(", ".join(t for t in tests if independent[t]["claimed"]) or "none")
        lines.append("| " + " | ".join(cells) + " |")
    stolen = [s["models"]["stolen"]["watermark_accuracy"] for s in results["seeds"]]
    claims = {
        t: sum(s["models"]["stolen"]["verification"]["verdicts"][t]["claimed"] for s in results["seeds"])
        for t in tests
    }
    victims = [s["models"]["victim"]["accuracy"] for s in results["seeds"]]
    rates = [s["models"]["stolen"]["verification"].get("reference_rate") for s in results["seeds"]]
    gain = (
        f" (minus their untriggered share: {100 * np.mean(np.subtract(stolen, rates)):.1f} ± "
        f"{100 * np.std(np.subtract(stolen, rates), ddof=1):.1f} points)"
        if None not in rates else ""
    )
    summary = (
        f"{label}: victims {100 * np.mean(victims):.2f} ± {100 * np.std(victims, ddof=1):.2f}% "
        f"task accuracy; copies keep {100 * np.mean(stolen):.1f} ± {100 * np.std(stolen, ddof=1):.1f}% "
        f"({len(stolen)} seeds){gain}; H0 rejected on the copies: "
        + ", ".join(f"{t} {n}/{len(stolen)}" + (" (decision)" if t == decision else "")
                    for t, n in claims.items())
    )
    return lines, summary, tests


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--labels", nargs=2, default=["before", "after"])
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    out, summaries = [], []
    for label, path in zip(args.labels, (args.old, args.new)):
        with open(path) as f:
            lines, summary, tests = _rows(label, json.load(f))
        out += lines
        summaries.append(summary)
    header = (
        "| run | seed | pair | positions refused (effect, points) | largest effect (models) | "
        "T-test margin | victim: task accuracy % / untriggered source to target % | "
        "stolen: watermark % / untriggered % | "
        + " | ".join(f"stolen: {t}" for t in tests)
        + " | independent: H0 rejected by |"
    )
    table = "\n".join([header, "|" + "---|" * (header.count("|") - 1)] + out)
    text = table + "\n\n" + "\n".join(f"- {s}" for s in summaries) + "\n"
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
