"""Renders a finished recipe run's report again, or combines runs of one recipe into one.

    python -m kwm.reports RUN
    python -m kwm.reports RUN RUN [RUN ...] --output MERGED

With one run: rewrites `RUN/report.md`, `RUN/accuracy.png` and
`RUN/attacks.png` (when the run attacked its stolen copies) from
`RUN/results.json`; the models, keys and results are left as they are. For a
run whose report could not be written, or a report rendered by a newer kwm.

With several runs of the same experiment (seeds run on several machines, or
one at a time with `--seed`): writes `MERGED/results.json`, its report and
figures, with the mean ± std over all their seeds, and copies each seed's
folder (keys and SavedModels) into `MERGED`, so that the merged run serves
every tool a recipe run serves. The runs must agree on everything but their
seeds (configuration, data, queries, reference models).
"""

import argparse
import json
import os
import shutil
import sys

from kwm.cli import EXIT_BAD_INPUT
from kwm.reports.provenance import code_provenance
from kwm.reports.report import write_json, write_run_report
from kwm.reports.staging import staged_directory


def _read(run):
    path = os.path.join(run, "results.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(
            f"no readable results.json in the run folder ({e}). Received: run={run!r}"
        ) from e


def _copy_seed_folders(run, results, destination):
    for seed_result in results["seeds"]:
        name = f"seed-{seed_result['seed']}"
        source = os.path.join(run, name)
        if os.path.isdir(source):
            try:  # hard links where the file system allows: SavedModels are large
                shutil.copytree(source, os.path.join(destination, name), copy_function=os.link)
            except OSError:
                shutil.rmtree(os.path.join(destination, name), ignore_errors=True)
                shutil.copytree(source, os.path.join(destination, name))


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kwm.reports",
        description="Render a finished recipe run's report again from its results.json, or "
        "combine the seeds of several runs of one recipe into one run.",
    )
    parser.add_argument("runs", nargs="+", metavar="run",
                        help="a run's output folder (it holds results.json); several: merge them")
    parser.add_argument("--output", help="the merged run's folder (with several runs; new)")
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if len(args.runs) == 1 and args.output:
        parser.error(f"--output is for merging several runs. Received: runs={args.runs}")
    if len(args.runs) > 1 and not args.output:
        parser.error(f"merging several runs needs --output. Received: runs={args.runs}")
    try:
        runs = [_read(run) for run in args.runs]
        if len(runs) == 1:
            print(f"report: {write_run_report(runs[0], args.runs[0])}")
            return 0
        from kwm.recipes.summary import merge_runs

        command = ["python -m kwm.reports", *(argv if argv is not None else sys.argv[1:])]
        merged = merge_runs(runs, code_provenance(command))
        with staged_directory(args.output, overwrite=args.overwrite) as stage:
            for run, results in zip(args.runs, runs):
                _copy_seed_folders(run, results, stage)
            write_json(merged, os.path.join(stage, "results.json"))
            write_run_report(merged, stage)
    except (ValueError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    seeds = [r["seed"] for r in merged["seeds"]]
    print(f"merged seeds {seeds} of {len(runs)} runs: {os.path.join(args.output, 'report.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
