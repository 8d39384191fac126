"""How far a patch trigger alone moves independent models, at every position, and what a check
on a few reference models says about the rest.

    python benchmarks/trigger_natural_effect.py --population POP --key RUN/seed-0/watermark_key.json \
        --stride 2 --output benchmarks/results/trigger_natural_effect/mnist_ewe_seed0

An in-distribution key sends triggered source-class inputs to the target class; the owner refuses
a trigger that, on its own, moves any of its reference models towards the target by more than a
bound (`kwm.verification.check_trigger_effect`). This measures the *natural effect* of the key's
patch (its size and value) placed at every `--stride`-th position on the key's trigger-free
source inputs: for every model of an independent population (`independent_population.py train`),
the target rate with the patch minus the target rate without it. Then it simulates the owner's
check with panels of k models drawn from the population (`--draws` random panels per k): how
often a position is accepted (every panel model moved by at most `--max-effect`), and, among the
accepted positions, how many of the models *outside* the panel the patch alone moves by more
than the T-test's margin (0.1 plus the panel's largest effect): the models such a key could
accuse. Writes `.json` (per-position summaries, the simulation) and `.md`, and a heat map `.png`
of the population's largest effect per position.

With `--panel-recipe NAME` it also measures the owner's actual reference panel of that recipe
(`kwm.recipes.reference_models.train_reference_models`, loaded from the reference cache or
trained there) at every position: which positions the recipe's check accepts at each bound, and
how far the population moves at those positions. The population is trained by code outside the
recipes, so this is the check's error on models it never saw.
"""

import argparse
import json
import os
import sys

import keras
import numpy as np

from kwm.watermarks import PatchTrigger, WatermarkKey


def natural_effects(models, key, positions, batch_size=2048):
    """`(len(positions), len(models))` target-rate differences, patch minus no patch."""
    clean = np.asarray(key.reference_inputs, "float32")
    size, value = key.trigger.size, key.trigger.value
    triggered = np.concatenate([
        PatchTrigger(size=size, value=value, position=tuple(p)).apply(clean) for p in positions
    ])
    effects = np.zeros((len(positions), len(models)))
    for j, model in enumerate(models):
        if j % 10 == 0:
            print(f"model {j + 1}/{len(models)}", flush=True)
        base = np.mean(model.predict(clean, batch_size=batch_size, verbose=0).argmax(1)
                       == key.target_class)
        hits = model.predict(triggered, batch_size=batch_size, verbose=0).argmax(1) == key.target_class
        effects[:, j] = hits.reshape(len(positions), len(clean)).mean(axis=1) - base
    return effects


def simulate_checks(effects, panel_sizes, max_effect=0.05, margin=0.1, draws=2000, seed=0):
    """The owner's check with random panels of k population models, per k."""
    rng = np.random.default_rng(seed)
    num_positions, num_models = effects.shape
    rows = []
    for k in panel_sizes:
        accepted = exposed = any_exposed = claimable = 0
        for _ in range(draws):
            panel = rng.choice(num_models, size=k, replace=False)
            outside = np.setdiff1d(np.arange(num_models), panel)
            position = rng.integers(num_positions)
            largest = effects[position, panel].max()
            if largest > max_effect:
                continue
            accepted += 1
            over = effects[position, outside] > margin + max(largest, 0.0)
            exposed += over.mean()
            any_exposed += over.any()
            claimable += (effects[position, outside] > 0.3).any()
        rows.append({
            "panel_size": int(k), "draws": draws, "max_effect": max_effect,
            "accepted": accepted / draws,
            "outside_models_over_margin_if_accepted": exposed / max(accepted, 1),
            "keys_with_any_outside_model_over_margin_if_accepted": any_exposed / max(accepted, 1),
            "keys_with_any_outside_model_over_30_points_if_accepted":
                claimable / max(accepted, 1),
        })
    return rows


def owner_panel(recipe, data_sources, log=print):
    """The reference models of `recipe` (from the cache, else trained) and their names."""
    from kwm.recipes import load_recipe
    from kwm.recipes.data import load_data
    from kwm.recipes.reference_models import ReferenceModels, train_reference_models

    config = load_recipe(recipe)
    if data_sources:
        config["data"]["sources"] = list(data_sources)
    data, _ = load_data(config)
    store = ReferenceModels(ReferenceModels.default_directory())
    models, names = train_reference_models(config, data, store, 0, log)
    return models, names, config, store.records


def panel_check(panel_effects, effects, bounds, margin=0.1):
    """Per bound: the positions the panel accepts and what the population does there."""
    rows = []
    largest_panel = panel_effects.max(axis=1)
    for bound in bounds:
        accepted = largest_panel <= bound
        over_margin = effects > margin + np.maximum(largest_panel, 0.0)[:, None]
        rows.append({
            "max_effect": bound,
            "positions_accepted": int(accepted.sum()),
            "positions": int(len(accepted)),
            "accepted_with_any_model_over_margin": int(over_margin[accepted].any(axis=1).sum()),
            "accepted_with_any_model_over_30_points": int((effects[accepted] > 0.3).any(axis=1).sum()),
            "largest_effect_at_accepted": (
                round(float(effects[accepted].max()), 4) if accepted.any() else None
            ),
            "models_over_margin_at_accepted": int(over_margin[accepted].sum()),
        })
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", required=True)
    parser.add_argument("--key", required=True, help="an in-distribution key with a patch trigger")
    parser.add_argument("--stride", type=int, default=2)
    parser.add_argument("--panel-sizes", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--max-effect", type=float, nargs="+", default=[0.05],
                        help="bounds of the simulated check (the recipes' is 0.05)")
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--effects", help="an .npz this script wrote (`--output` prefix + "
                        "`_effects.npz`): reuse its measurements instead of predicting again")
    parser.add_argument("--panel-recipe", help="also measure this recipe's own reference panel "
                        "(e.g. mnist_ewe) and which positions its check accepts")
    parser.add_argument("--data-source", nargs="+", default=None,
                        help="data sources of --panel-recipe's task data (e.g. local)")
    parser.add_argument("--output", required=True, help="path prefix of .json, .md, .png and "
                        "_effects.npz (the full matrix, positions x models)")
    args = parser.parse_args(argv)
    key = WatermarkKey.load(args.key)
    if key.reference_inputs is None or not isinstance(key.trigger, PatchTrigger):
        parser.error(f"the key needs a patch trigger and trigger-free inputs. Received: {args.key}")
    with open(os.path.join(args.population, "population.json")) as f:
        manifest = json.load(f)
    models = [keras.saving.load_model(os.path.join(args.population, m["file"]))
              for m in manifest["models"]]
    height, width = key.reference_inputs.shape[1:3]
    rows_, cols_ = key.trigger.size
    positions = [(r, c) for r in range(0, height - rows_ + 1, args.stride)
                 for c in range(0, width - cols_ + 1, args.stride)]
    # One pass over the models: the grid, then the key's own position as the last row.
    key_position = tuple(key.trigger.position)
    measured = positions + [key_position]
    if args.effects:
        saved = np.load(args.effects)
        if saved["positions"].tolist() != [list(p) for p in measured]:
            parser.error(f"--effects holds other positions. Received: {args.effects}")
        all_effects = saved["effects"]
    else:
        all_effects = natural_effects(models, key, measured)
        np.savez_compressed(args.output + "_effects.npz", effects=all_effects,
                            positions=np.array(measured))
    effects, key_row = all_effects[:-1], all_effects[-1]
    print(f"measured {len(positions)} positions x {len(models)} models", flush=True)
    panel = None
    if args.panel_recipe:
        panel_models, panel_names, config, records = owner_panel(
            args.panel_recipe, args.data_source)
        panel_all = natural_effects(panel_models, key, measured)
        panel_effects, panel_key_row = panel_all[:-1], panel_all[-1]
        bounds = sorted(set(args.max_effect) | {config["verification"]["max_trigger_effect"]},
                        reverse=True)
        panel = {
            "recipe": args.panel_recipe,
            "models": panel_names,
            "test_accuracy": [r.get("test_accuracy") for r in records],
            "recipe_bound": config["verification"]["max_trigger_effect"],
            "key_position_effects": [round(float(v), 4) for v in panel_key_row],
            "checks": panel_check(panel_effects, effects, bounds),
        }
    architectures = [m["architecture"] for m in manifest["models"]]
    per_position = [{
        "position": list(p),
        "largest": round(float(e.max()), 4),
        "q95": round(float(np.quantile(e, 0.95)), 4),
        "mean": round(float(e.mean()), 4),
        "models_over_5_points": int((e > 0.05).sum()),
        "largest_by_architecture": {
            a: round(float(max(e[i] for i, x in enumerate(architectures) if x == a)), 4)
            for a in sorted(set(architectures))
        },
    } for p, e in zip(positions, effects)]
    simulation = [row for bound in args.max_effect
                  for row in simulate_checks(effects, args.panel_sizes, bound, draws=args.draws)]
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    command = "python benchmarks/trigger_natural_effect.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    summary = {
        "command": command, "key_fingerprint": key.fingerprint,
        "source_class": key.source_class, "target_class": key.target_class,
        "trigger": {"size": list(key.trigger.size), "value": key.trigger.value},
        "population": {"dataset": manifest["dataset"], "models": len(models)},
        "inputs": int(len(key.reference_inputs)),
        "key_position": {"position": list(key_position),
                         "effects": [round(float(v), 4) for v in key_row],
                         "models_over_5_points": int((key_row > 0.05).sum())},
        "positions": per_position, "simulation": simulation, "owner_panel": panel,
    }
    with open(args.output + ".json", "w") as f:
        json.dump(summary, f, separators=(",", ":"))
    largest = np.array([p["largest"] for p in per_position])
    lines = [
        f"# Natural effect of the key's patch: {manifest['dataset']} class "
        f"{key.source_class} → {key.target_class}",
        "",
        f"`{command}`",
        "",
        f"A {rows_}x{cols_} patch of value {key.trigger.value:g} at {len(positions)} positions "
        f"(stride {args.stride}) on {len(key.reference_inputs)} trigger-free source inputs, "
        f"through {len(models)} independent models.",
        "",
        f"- Positions where no model moves by more than 5 points: "
        f"{int((largest <= 0.05).sum())}/{len(positions)}; by more than 20 points: "
        f"{int((largest > 0.2).sum())}/{len(positions)}.",
        f"- The key's own position {list(key_position)}: largest effect "
        f"{100 * key_row.max():+.1f} points, {int((key_row > 0.05).sum())} models over 5 points.",
        "",
        f"The owner's check simulated with panels of k population models ({args.draws} random "
        "panels and positions per k and bound; a position is accepted when no panel model moves "
        "by more than the bound). Over the margin: the patch alone moves a model outside the "
        "panel by more than the T-test's margin (10 points plus the panel's largest effect); "
        "over 30 points: by more than the Wilcoxon test's alpha-certainty, on top-1 answers.",
        "",
        "| bound, points | k | positions accepted | outside models over the margin, if accepted "
        "| keys with any outside model over the margin, if accepted | keys with any outside model "
        "over 30 points, if accepted |",
        "|---|---|---|---|---|---|",
    ] + [
        f"| {100 * r['max_effect']:g} | {r['panel_size']} | {100 * r['accepted']:.1f}% | "
        f"{100 * r['outside_models_over_margin_if_accepted']:.2f}% | "
        f"{100 * r['keys_with_any_outside_model_over_margin_if_accepted']:.1f}% | "
        f"{100 * r['keys_with_any_outside_model_over_30_points_if_accepted']:.1f}% |"
        for r in simulation
    ]
    if panel:
        lines += [
            "",
            f"## The check of recipe `{panel['recipe']}` on its own {len(panel['models'])} "
            "reference models",
            "",
            "The owner's actual panel (trained by the recipe's code; test accuracy "
            + ", ".join(f"{100 * a:.1f}%" for a in panel["test_accuracy"] if a is not None)
            + f") measured at the same positions; at the key's position it moves by at most "
            f"{100 * max(panel['key_position_effects']):+.1f} points. Over the margin: a "
            "population model moved by the patch alone by more than 10 points plus the panel's "
            "largest effect at that position.",
            "",
            "| bound, points | positions accepted | accepted with a population model over the margin "
            "| accepted with a population model over 30 points | largest population effect at an "
            "accepted position | population models over the margin, summed over accepted "
            "positions |",
            "|---|---|---|---|---|---|",
        ] + [
            f"| {100 * r['max_effect']:g}{' (recipe)' if r['max_effect'] == panel['recipe_bound'] else ''} "
            f"| {r['positions_accepted']}/{r['positions']} | "
            f"{r['accepted_with_any_model_over_margin']} | "
            f"{r['accepted_with_any_model_over_30_points']} | "
            + (f"{100 * r['largest_effect_at_accepted']:+.1f}" if r["largest_effect_at_accepted"]
               is not None else "—")
            + f" | {r['models_over_margin_at_accepted']} |"
            for r in panel["checks"]
        ]
    with open(args.output + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    from kwm.reports.plots import pyplot

    plt = pyplot()
    grid = np.full((len(range(0, height - rows_ + 1, args.stride)),
                    len(range(0, width - cols_ + 1, args.stride))), np.nan)
    for p, value in zip(positions, largest):
        grid[p[0] // args.stride, p[1] // args.stride] = 100 * value
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    image = ax.imshow(grid, cmap="magma", vmin=0, vmax=max(20, np.nanmax(grid)))
    ax.set_title(f"largest effect of the patch over {len(models)} models (points)", fontsize=8)
    ax.set_xlabel(f"column / {args.stride}", fontsize=8)
    ax.set_ylabel(f"row / {args.stride}", fontsize=8)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(args.output + ".png", dpi=100)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
