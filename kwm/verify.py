"""Replay an ownership claim: `python -m kwm.verify --key KEY --suspect MODEL`.

Loads the secret key (checking its SHA-256 fingerprint, and the
fingerprint committed to earlier if given), queries the suspect - a
SavedModel directory or a `.keras` file - on the key's verification
inputs only, and prints and optionally saves the verdicts.
"""

import argparse
import json
import os
import sys

from kwm.prediction_api import InvalidPredictionError
from kwm.verification import DECISION_RULE, TESTS, verify_ownership
from kwm.watermarks import KeyIntegrityError, WatermarkKey


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m kwm.verify",
        description="Test whether a suspect model carries a kwm watermark.",
        epilog=DECISION_RULE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--key", required=True, help="watermark key JSON file")
    parser.add_argument(
        "--suspect", required=True, help="suspect model: SavedModel directory or .keras file"
    )
    parser.add_argument(
        "--fingerprint", help="fingerprint committed to when the model was released"
    )
    parser.add_argument("--tests", nargs="+", default=list(TESTS), choices=TESTS)
    parser.add_argument(
        "--decision-test", default="wilcoxon", choices=TESTS,
        help="the one test whose rejection claims ownership; the others are reported as "
        "evidence (default: wilcoxon)",
    )
    parser.add_argument("--significance", type=float, default=0.05)
    parser.add_argument("--alpha-certainty", type=float, default=0.3)
    parser.add_argument(
        "--t-test-margin", type=float, default=0.1,
        help="the T-test's margin over the false watermark rate (EWE's 10%%); the trigger "
        "effect calibrated into the key is added to it",
    )
    parser.add_argument(
        "--false-rate", type=float, default=None,
        help="keys without trigger-free references (out-of-distribution) only: the target rate "
        "measured on models without the watermark (default: the rate calibrated into the key)",
    )
    parser.add_argument(
        "--temperature", type=float, default=1.0,
        help="the temperature at which the owner's API served the watermarked model: the "
        "Wilcoxon test reads the suspect's probabilities re-tempered by its inverse (default 1)",
    )
    parser.add_argument("--output", help="write the report as JSON here")
    args = parser.parse_args(argv)
    try:
        key = WatermarkKey.load(args.key, expected_fingerprint=args.fingerprint)
        report = verify_ownership(
            args.suspect,
            key,
            tests=tuple(args.tests),
            decision_test=args.decision_test,
            significance=args.significance,
            alpha_certainty=args.alpha_certainty,
            t_test_margin=args.t_test_margin,
            false_rate=args.false_rate,
            temperature=args.temperature,
        )
    except (KeyIntegrityError, InvalidPredictionError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"key sha256:{report.key_fingerprint}")
    print(report.summary())
    if args.output:
        directory = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(directory, exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
