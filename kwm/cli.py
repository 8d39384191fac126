"""The `kwm` command: verify a suspect, replay a claim, show a key, serve a model.

    kwm verify --key KEY --suspect PATH|URL [--fingerprint SHA] [--budget N]
               [--temperature T] [--output claim.json]
    kwm replay claim.json --key KEY
    kwm key show KEY
    kwm serve SAVEDMODEL [--port P]

Exit status: 0 ownership claimed (`verify`, `replay`) or success, 1 not
claimed, 2 bad input (a one-line reason on stderr; nothing written).
`python -m kwm.verify` is `kwm verify`.
"""

import argparse
import datetime
import hashlib
import json
import os
import sys

EXIT_CLAIMED = 0
EXIT_NOT_CLAIMED = 1
EXIT_BAD_INPUT = 2
CLAIM_FORMAT = "kwm-claim/1"


def _one_line(error):
    return " ".join(str(error).split())


def _add_verify_arguments(parser):
    from kwm.prediction_api import ANSWER_KINDS
    from kwm.verification import DEFAULT_PROTOCOL, DEFAULT_TESTS, TESTS

    parser.add_argument("--key", required=True, help="watermark key JSON file")
    parser.add_argument(
        "--suspect", required=True,
        help="the suspect: a SavedModel directory, a .keras file, or an http(s):// URL "
        "(TensorFlow Serving's REST predict format, e.g. "
        "http://host:8501/v1/models/NAME:predict, or plain JSON: a list of inputs in, a "
        "list of answers out)",
    )
    parser.add_argument(
        "--fingerprint", help="the key fingerprint committed to when the model was released"
    )
    parser.add_argument(
        "--budget", type=int,
        help="most queries to send (the first verification inputs that fit; default: all)",
    )
    parser.add_argument(
        "--answers", default="auto", choices=ANSWER_KINDS,
        help="what the suspect answers: class probabilities, or top-1 labels only (then the "
        "T-test decides; default: detected from its first answer)",
    )
    parser.add_argument(
        "--tests", nargs="+", choices=TESTS,
        help="the tests to run (default: the key's protocol, else EWE's T-test and the Wilcoxon "
        f"test: {' '.join(DEFAULT_TESTS)}; paired_t_test: the T-test on each verification input "
        "paired with its trigger-free reference)",
    )
    parser.add_argument(
        "--decision-test", choices=TESTS,
        help="the one test whose rejection claims ownership; the others are reported as "
        f"evidence (default: the key's protocol, else {DEFAULT_PROTOCOL['decision_test']})",
    )
    parser.add_argument(
        "--significance", type=float,
        help=f"rejection level (default: the key's protocol, else "
        f"{DEFAULT_PROTOCOL['significance']})",
    )
    parser.add_argument(
        "--alpha-certainty", type=float,
        help=f"the Wilcoxon test's margin (default: the key's protocol, else "
        f"{DEFAULT_PROTOCOL['alpha_certainty']})",
    )
    parser.add_argument(
        "--t-test-margin", type=float,
        help="the T-test's margin over the false watermark rate (default: the key's protocol, "
        "else EWE's 10%%); the trigger effect calibrated into the key is added to it",
    )
    parser.add_argument(
        "--false-rate", type=float, default=None,
        help="keys without trigger-free references (out-of-distribution) only: the target rate "
        "measured on models without the watermark (default: the rate calibrated into the key)",
    )
    parser.add_argument(
        "--temperature", type=float,
        help="the temperature at which the owner's API served the watermarked model: the "
        "Wilcoxon test reads the suspect's probabilities re-tempered by its inverse (default: "
        "the key's protocol, else 1)",
    )
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="URL suspects: seconds to wait for each answer")
    parser.add_argument("--retries", type=int, default=3,
                        help="URL suspects: further attempts after a failure, with backoff")
    parser.add_argument("--rate-limit", type=float, default=None, metavar="QPS",
                        help="URL suspects: most queries per second")
    parser.add_argument(
        "--output", help="write the claim here (JSON: verdicts, the suspect's answers and their "
        "SHA-256, key fingerprint, suspect, kwm version), for `kwm replay`",
    )


_SOURCE_NAMES = {"given": "given", "key": "the key's protocol", "default": "kwm's default"}


def _setting_text(name, value):
    """`name=value` as a flag reads it (a list of tests space-separated)."""
    return f"{name}={' '.join(value) if isinstance(value, (list, tuple)) else value}"


def verify_settings(args, key):
    """The settings of a verification: each flag given, else the key's protocol, else kwm's
    default (`kwm.verification.resolve_protocol`).

    Returns:
        `(settings, sources)`: the `verify_ownership` arguments and, per
        setting, where it came from (`"given"`, `"key"` or `"default"`).
    """
    from kwm.verification import DEFAULT_PROTOCOL, resolve_protocol

    settings, sources = resolve_protocol(
        key, **{name: getattr(args, name) for name in DEFAULT_PROTOCOL}
    )
    settings["tests"] = list(settings["tests"])
    if settings["decision_test"] not in settings["tests"]:
        raise ValueError(
            "The decision test must be one of the tests run. Received: decision test "
            f"{settings['decision_test']} ({_SOURCE_NAMES[sources['decision_test']]}) with tests "
            f"{' '.join(settings['tests'])} ({_SOURCE_NAMES[sources['tests']]})"
        )
    settings["false_rate"] = args.false_rate
    return settings, sources


def suspect_identity(suspect):
    """What identifies a suspect in a claim: its URL, or its path and a SHA-256 of its files.

    Examples:

    >>> suspect_identity("http://127.0.0.1:8501/v1/models/m:predict")["kind"]
    'url'
    """
    from kwm.rest import is_url

    if is_url(suspect):
        return {"kind": "url", "location": suspect}
    path = os.path.abspath(suspect)
    digest = hashlib.sha256()
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(root, name) for root, _, names in os.walk(path) for name in names
    )
    for name in files:
        digest.update(os.path.relpath(name, path).encode("utf-8"))
        with open(name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    kind = "savedmodel" if os.path.isdir(path) else "keras"
    return {"kind": kind, "location": path, "sha256": digest.hexdigest()}


def _write_json(path, document):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1)
    os.replace(tmp, path)


def _verify(args):
    from kwm.prediction_api import PredictionAPI
    from kwm.verification import verify_ownership
    from kwm.version import __version__
    from kwm.watermarks import WatermarkKey

    if args.output and os.path.isdir(args.output):
        raise ValueError(f"--output is a directory. Received: --output {args.output}")
    key = WatermarkKey.load(args.key, expected_fingerprint=args.fingerprint)
    identity = suspect_identity(args.suspect)
    api = PredictionAPI(
        args.suspect, num_classes=key.num_classes, answers=args.answers,
        max_queries=args.budget, timeout=args.timeout, retries=args.retries,
        max_queries_per_second=args.rate_limit,
    )
    settings, sources = verify_settings(args, key)
    report = verify_ownership(api, key, budget=args.budget, **settings)
    print(f"key sha256:{report.key_fingerprint}")
    from_key = [name for name, source in sources.items() if source == "key"]
    if from_key:
        print("settings from the key's protocol: "
              + ", ".join(_setting_text(name, settings[name]) for name in from_key))
    print(report.summary())
    if args.budget is not None:
        print(f"queries used: {report.num_queries} of a budget of {args.budget}")
    if args.output:
        _write_json(args.output, {
            "format": CLAIM_FORMAT,
            "kwm_version": __version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "suspect": identity,
            "key_fingerprint": report.key_fingerprint,
            "settings": settings,
            # Where each setting came from: "given" (a flag), "key" (its protocol) or "default".
            "settings_from": sources,
            "claimed": report.claimed,
            "report": report.to_dict(include_answers=True),
        })
    return EXIT_CLAIMED if report.claimed else EXIT_NOT_CLAIMED


def _replay(args):
    from kwm.verification import SuspectAnswers, verify_answers
    from kwm.watermarks import WatermarkKey

    with open(args.claim, encoding="utf-8") as f:
        try:
            claim = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{args.claim} is not JSON: {e}. Received: {args.claim}") from None
    if not isinstance(claim, dict) or claim.get("format") != CLAIM_FORMAT:
        raise ValueError(f"{args.claim} is not a kwm claim. Received: {args.claim}")
    key = WatermarkKey.load(args.key, expected_fingerprint=claim["key_fingerprint"])
    if args.fingerprint:
        WatermarkKey.load(args.key, expected_fingerprint=args.fingerprint)
    answers = SuspectAnswers.from_dict(claim["report"]["answers"])
    report = verify_answers(answers, key, **claim["settings"])
    recorded = claim["report"]["verdicts"]
    for test, verdict in report.verdicts.items():
        then = recorded.get(test)
        if (
            then is None
            or then["claimed"] != verdict.claimed
            or not _close(then["p_value"], verdict.p_value)
        ):
            raise ValueError(
                f"The {test} verdict does not replay: recorded p={then and then['p_value']}, "
                f"replayed p={verdict.p_value}. Received: {args.claim}"
            )
    if claim["claimed"] != report.claimed:
        raise ValueError(f"The claim's outcome does not replay. Received: {args.claim}")
    print(f"key sha256:{report.key_fingerprint}")
    print(f"suspect: {claim['suspect']['location']} (claimed {claim['created']}, kwm "
          f"{claim['kwm_version']}); answers sha256:{answers.sha256()[:16]}")
    print(report.summary())
    print("replayed: every recorded verdict is reproduced from the recorded answers")
    return EXIT_CLAIMED if report.claimed else EXIT_NOT_CLAIMED


def _close(a, b):
    return a == b or abs(a - b) <= 1e-9 + 1e-6 * max(abs(a), abs(b))


def _key_show(args):
    from kwm.watermarks import WatermarkKey
    from kwm.watermarks.key import PROTOCOL_FIELDS

    key = WatermarkKey.load(args.key, expected_fingerprint=args.fingerprint)
    facts = [
        ("fingerprint", f"sha256:{key.fingerprint}"),
        ("method", key.method),
        ("task", f"{key.dataset}, {key.num_classes} classes"),
        ("verification inputs", f"{len(key.verify_inputs)}"
         + (", each with a trigger-free reference" if key.reference_inputs is not None
            else ", out-of-distribution (no trigger-free reference)")),
        ("queries for a full claim",
         str(len(key.verify_inputs) * (1 if key.reference_inputs is None else 2))),
    ]
    if key.trigger_effect is not None:
        facts.append(("calibrated trigger effect",
                      f"{100 * key.trigger_effect['value']:+.1f} points on "
                      f"{len(key.trigger_effect.get('effects') or [])} reference models"))
    if key.false_rate is not None:
        facts.append(("calibrated false rate",
                      f"{100 * key.false_rate['value']:.1f}% on "
                      f"{len(key.false_rate.get('rates') or [])} reference models"))
    if key.protocol:
        facts.append(("verification protocol", ", ".join(
            _setting_text(name, key.protocol[name]) for name in PROTOCOL_FIELDS
            if name in key.protocol)))
    else:
        facts.append(("verification protocol", "none recorded (kwm verify's defaults apply)"))
    width = max(len(name) for name, _ in facts)
    for name, value in facts:
        print(f"{name:<{width}}  {value}")
    return 0


def _serve(args):
    from kwm.rest import PredictionServer

    server = PredictionServer(args.model, name=args.name, host=args.host, port=args.port,
                              answers=args.answers, verbose=args.verbose)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}, reachable from other machines", file=sys.stderr)
    print(f"serving {args.model} at {server.url}", flush=True)
    server.serve_until_interrupted()
    return 0


def build_parser(prog="kwm"):
    from kwm.verification import DECISION_RULE

    parser = argparse.ArgumentParser(
        prog=prog, description="Prove that a model was stolen from your API.",
        epilog=DECISION_RULE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify", help="test whether a suspect carries your watermark (exit 0: claimed, "
        "1: not claimed, 2: bad input)",
        epilog=DECISION_RULE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_verify_arguments(verify)
    verify.set_defaults(run=_verify)
    replay = commands.add_parser(
        "replay", help="recheck a saved claim offline from the answers it recorded"
    )
    replay.add_argument("claim", help="a claim written by `kwm verify --output`")
    replay.add_argument("--key", required=True, help="the watermark key of the claim")
    replay.add_argument("--fingerprint", help="the key fingerprint committed to at release")
    replay.set_defaults(run=_replay)
    key = commands.add_parser("key", help="keys")
    key_commands = key.add_subparsers(dest="key_command", required=True)
    show = key_commands.add_parser("show", help="the public facts of a key (never its inputs)")
    show.add_argument("key", help="watermark key JSON file")
    show.add_argument("--fingerprint", help="the key fingerprint committed to at release")
    show.set_defaults(run=_key_show)
    serve = commands.add_parser(
        "serve", help="answer queries to a model in TensorFlow Serving's REST format"
    )
    serve.add_argument("model", help="a SavedModel directory or .keras file")
    serve.add_argument("--port", type=int, default=8501, help="port (0: a free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address (default: loopback)")
    serve.add_argument("--name", default="model", help="the model's name in the URL")
    serve.add_argument("--answers", default="probabilities", choices=("probabilities", "labels"),
                       help="answer probabilities, or the top-1 label only")
    serve.add_argument("--verbose", action="store_true", help="log every request")
    serve.set_defaults(run=_serve)
    return parser


def main(argv=None):
    """Runs the `kwm` command; returns its exit status."""
    from kwm.prediction_api import InvalidPredictionError
    from kwm.rest import SuspectUnavailableError

    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        return args.run(args)
    except (InvalidPredictionError, SuspectUnavailableError, ValueError, OSError, KeyError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
