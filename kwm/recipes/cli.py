"""Command line shared by the `python -m kwm.recipes.<dataset>` modules."""

import argparse
import datetime
import os
import sys
import traceback

from kwm.attacks import available_attacks, resolve_attacks
from kwm.cli import EXIT_BAD_INPUT
from kwm.datasets import DatasetNotFoundError
from kwm.prediction_api import InvalidPredictionError
from kwm.recipes.config import available_recipes, load_recipe
from kwm.recipes.data import load_data, load_other_datasets, load_queries
from kwm.recipes.pipeline import run_seed
from kwm.recipes.reference_models import ReferenceModels
from kwm.recipes.summary import run_checks, summarize, summarize_attacks
from kwm.reports import (
    code_provenance,
    plain_verdicts,
    staged_directory,
    write_json,
    write_run_report,
)
from kwm.watermarks import KeyIntegrityError

# Exit codes: `EXIT_BAD_INPUT` (2) bad input (nothing written), 3 an independent model was
# claimed (a false accusation; the report is written so it can be studied),
# 4 the run finished but its report could not be written (the run is kept).
EXIT_FALSE_ACCUSATION = 3
EXIT_REPORT_FAILED = 4
REPORT_ERROR_FILE = "report_error.txt"


def build_parser(dataset, methods):
    parser = argparse.ArgumentParser(
        prog=f"python -m kwm.recipes.{dataset}",
        description=(
            f"Watermark a {dataset} classifier, steal it by extraction, train an "
            "independent model, and verify all three with the watermark key. "
            "Writes results.json, report.md and figures to --output."
        ),
    )
    main = main_recipe(dataset)
    parser.add_argument(
        "--method", choices=methods,
        help=f"watermarking method: runs the recipe {dataset}_<method> (default: "
        + (f"the main recipe {main}.toml, kwm's recommendation for {dataset}; with --ood, "
           if main else "")
        + f"{methods[0]})",
    )
    parser.add_argument(
        "--ood", action="store_true",
        help=f"out-of-distribution watermarks (recipe {dataset}_<method>_ood)",
    )
    parser.add_argument("--config", help="a recipe TOML file instead of the packaged one")
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="run this one seed")
    seeds.add_argument(
        "--seeds", type=int, help="run seeds 0..N-1 and report mean ± std (default 1)"
    )
    parser.add_argument("--epochs", type=int, help="clean training epochs")
    parser.add_argument("--watermark-epochs", type=int, help="training epochs with watermarks")
    parser.add_argument(
        "--max-train", type=int, metavar="N",
        help="keep N training examples (stratified; 0: all; default: the recipe's)",
    )
    parser.add_argument(
        "--max-test", type=int, metavar="N",
        help="keep N test examples (stratified; 0: all; default: the recipe's)",
    )
    parser.add_argument(
        "--attacks",
        help="attack the stolen model: 'all' or a comma-separated list of "
        + ", ".join(available_attacks()),
    )
    parser.add_argument(
        "--serving-temperature", type=float,
        help="temperature of the probabilities the victim's API serves (default: the recipe's, 1)",
    )
    parser.add_argument("--output", help="output directory (default runs/<recipe>-<UTC time>)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    parser.add_argument("--quick", action="store_true", help="tiny smoke-test configuration")
    parser.add_argument(
        "--full", action="store_true",
        help="the paper's full-size configuration (the recipe's [full] table; for a GPU)",
    )
    parser.add_argument(
        "--data-dir",
        help="root of local dataset copies in their original formats (else $KWM_DATA_DIR)",
    )
    parser.add_argument(
        "--data-source",
        action="append",
        choices=("local", "tfds", "embedded"),
        help="restrict where data may come from (repeatable; default: local, tfds, embedded)",
    )
    parser.add_argument(
        "--no-download", action="store_true", help="never let tfds download a dataset"
    )
    parser.add_argument(
        "--reference-cache", nargs="?", const="", default="", metavar="DIR",
        help="where the owner's reference models (trigger check, false rate) are kept and "
        "reused by later runs with the same model, training, data, seed, versions and "
        "training code (default $KWM_CACHE_DIR/reference_models, else "
        "~/.cache/kwm/reference_models); the report names every model loaded",
    )
    parser.add_argument(
        "--no-reference-cache", dest="reference_cache", action="store_const", const=None,
        help="train the reference models afresh and keep them in memory only",
    )
    parser.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=None,
        help="Keras verbosity of training (default: progress bars on a terminal, "
        "one line per epoch otherwise)",
    )
    return parser


def _overrides(args):
    overrides = {}
    if args.epochs is not None:
        overrides.setdefault("training", {})["epochs"] = args.epochs
    if args.watermark_epochs is not None:
        overrides.setdefault("training", {})["watermark_epochs"] = args.watermark_epochs
    if args.serving_temperature is not None:
        overrides["serving"] = {"temperature": args.serving_temperature}
    if args.data_source:
        overrides.setdefault("data", {})["sources"] = list(dict.fromkeys(args.data_source))
    for name in ("max_train", "max_test"):
        value = getattr(args, name)
        if value is not None:
            if value < 0:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{flag} must be >= 0 (0: all). Received: {flag}={value}")
            overrides.setdefault("data", {})[name] = value
    if args.attacks:
        overrides["attacks"] = {"run": list(resolve_attacks(args.attacks))}
    return overrides


def main_recipe(dataset):
    """The packaged recipe a dataset runs with no `--method`, `--ood` or `--config` ("" if none).

    It is named after the dataset (e.g. `recipes/mnist.toml`): kwm's recommended method,
    sized for a first run on a CPU.
    """
    return dataset if dataset in available_recipes() else ""


def recipe_name(dataset, methods, method=None, ood=False):
    """The packaged recipe of a dataset, method and kind of watermark.

    Args:
        dataset: str. Dataset of the recipe module.
        methods: sequence of str. The module's methods, the default first.
        method: str or None. `--method` (None: the main recipe, else `methods[0]`).
        ood: bool. Out-of-distribution watermarks (`<dataset>_<method>_ood`).

    Returns:
        The recipe's name, for `load_recipe`.

    Examples:

    >>> recipe_name("mnist", ("feature_sharing", "baseline"))
    'mnist'
    >>> recipe_name("mnist", ("feature_sharing", "baseline"), "baseline")
    'mnist_baseline'
    >>> recipe_name("mnist", ("feature_sharing", "baseline"), ood=True)
    'mnist_feature_sharing_ood'
    """
    if method is None and not ood and main_recipe(dataset):
        return main_recipe(dataset)
    return f"{dataset}_{method or methods[0]}" + ("_ood" if ood else "")


def run(dataset, argv=None, methods=("baseline",)):
    """Runs a recipe from command-line arguments; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(dataset, list(methods)).parse_args(argv)
    try:
        overrides = _overrides(args)
        config = load_recipe(
            args.config or recipe_name(dataset, methods, args.method, args.ood),
            quick=args.quick,
            overrides=overrides,
            full=args.full,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if config["experiment"]["dataset"] != dataset:
        print(
            f"error: the recipe is for {config['experiment']['dataset']}, not {dataset}. "
            f"Received: --config {args.config}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    seeds = [args.seed] if args.seed is not None else list(range(args.seeds or 1))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    output = args.output or os.path.join("runs", f"{config['experiment']['name']}-{stamp}")
    if args.verbose is None:  # a piped log gets one line per epoch, not progress-bar redraws
        verbose = 1 if sys.stdout.isatty() else 2
    else:
        verbose = args.verbose
    code = code_provenance([f"python -m kwm.recipes.{dataset}", *argv])

    def log(message):
        print(message, flush=True)

    report_error, results_written = None, False
    try:
        with staged_directory(output, overwrite=args.overwrite) as stage:
            data, source = load_data(
                config, data_dir=args.data_dir, download=False if args.no_download else "auto"
            )
            log(f"data: {data.describe()}")
            if source is not None:
                log(f"watermark sources: {source.describe()}")
            queries = load_queries(
                config, data, data_dir=args.data_dir,
                download=False if args.no_download else "auto",
            )
            if queries is not None:
                log(f"thief's queries: {queries.describe()}")
            other_data = load_other_datasets(
                config, data, data_dir=args.data_dir,
                download=False if args.no_download else "auto",
            )
            for other in other_data.values():
                log(f"other data of the task: {other.describe()}")
            reference_models = ReferenceModels(
                None
                if args.reference_cache is None
                else args.reference_cache or ReferenceModels.default_directory(),
                datasets=other_data,
            )
            seed_results, keys = [], []
            for seed in seeds:
                result, key = run_seed(
                    config, data, source, seed, os.path.join(stage, f"seed-{seed}"), verbose, log,
                    reference_cache=reference_models, queries=queries, other_data=other_data,
                )
                seed_results.append(result)
                keys.append(key)
            summary = summarize(seed_results)
            attack_summary = summarize_attacks(seed_results)
            checks = run_checks(seed_results, summary)
            results = {
                "config": config,
                "data": {"description": data.describe(), "provenance": data.provenance.to_dict()},
                "source_data": None
                if source is None
                else {"description": source.describe(), "provenance": source.provenance.to_dict()},
                "query_data": None
                if queries is None
                else {"description": queries.describe(), "provenance": queries.provenance.to_dict()},
                "code": code,
                "other_data": {
                    name: {"description": other.describe(),
                           "provenance": other.provenance.to_dict()}
                    for name, other in other_data.items()
                },
                "reference_models": reference_models.records,
                "seeds": seed_results,
                "summary": summary,
                "attack_summary": attack_summary,
                "checks": checks,
            }
            # The seeds are done and their models and keys saved: whatever goes wrong from here
            # on, the run is kept. results.json comes first, so that a report that cannot be
            # rendered loses nothing (`python -m kwm.reports OUTPUT` renders it again).
            try:
                write_json(results, os.path.join(stage, "results.json"))
                results_written = True
                write_run_report(results, stage, key=keys[0])
            except Exception as e:  # noqa: BLE001 - any failure of the writing alone
                report_error = e
                with open(os.path.join(stage, REPORT_ERROR_FILE), "w", encoding="utf-8") as f:
                    traceback.print_exc(file=f)
    except (
        DatasetNotFoundError,
        KeyIntegrityError,
        InvalidPredictionError,
        FileExistsError,
        ValueError,  # configurations the data cannot satisfy (classes, sizes)
    ) as e:
        print(f"error: {e}\nNothing was written.", file=sys.stderr)
        return EXIT_BAD_INPUT
    if report_error is not None:
        print(
            f"error: the report could not be written ({type(report_error).__name__}: "
            f"{report_error}). The run is kept in {output}: "
            + (
                f"results.json, keys and models (traceback in {REPORT_ERROR_FILE}); render the "
                f"report again with `python -m kwm.reports {output}`."
                if results_written
                else f"keys and models; results.json could not be written (traceback in "
                f"{REPORT_ERROR_FILE})."
            )
            + f" Received: output={output!r}",
            file=sys.stderr,
        )
        return EXIT_REPORT_FAILED
    log(f"report: {os.path.join(output, 'report.md')}")
    decision = config["verification"]["decision_test"]
    for name, entry in summary.items():
        evidence = ", ".join(
            f"{test} {sum(entry[f'{test}_claimed'])}/{len(seeds)}"
            for test in config["verification"]["tests"]
            if test != decision
        )
        log(
            f"{name}: accuracy {100 * entry['accuracy']['mean']:.2f} ± "
            f"{100 * entry['accuracy']['std']:.2f}%, watermark accuracy "
            f"{100 * entry['watermark_accuracy']['mean']:.2f} ± "
            f"{100 * entry['watermark_accuracy']['std']:.2f}%, OWNERSHIP CLAIMED "
            f"{sum(entry[f'{decision}_claimed'])}/{len(seeds)} (decision: {decision})"
            + (f"; evidence, H0 rejected: {evidence}" if evidence else "")
        )
    for line in plain_verdicts(summary, decision):
        log(line)
    if not checks["independent_model_claimed_by_no_test_on_any_seed"]:
        print(
            "FALSE ACCUSATION: an independent model was claimed; see the report.",
            file=sys.stderr,
        )
        return EXIT_FALSE_ACCUSATION
    return 0
