"""Renders a finished recipe run's report again from its `results.json`.

    python -m kwm.reports RUN

Rewrites `RUN/report.md`, `RUN/accuracy.png` and `RUN/attacks.png` (when
the run attacked its stolen copies) from `RUN/results.json`; the models,
keys and results are left as they are. For a run whose report could not be
written, or a report rendered by a newer kwm.
"""

import argparse
import json
import os
import sys

from kwm.reports.report import write_run_report

EXIT_BAD_INPUT = 2


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kwm.reports",
        description="Render a finished recipe run's report again from its results.json.",
    )
    parser.add_argument("run", help="the run's output folder (it holds results.json)")
    args = parser.parse_args(argv)
    path = os.path.join(args.run, "results.json")
    try:
        with open(path, encoding="utf-8") as f:
            results = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(
            f"error: no readable results.json in the run folder ({e}). Received: run={args.run!r}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    print(f"report: {write_run_report(results, args.run)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
