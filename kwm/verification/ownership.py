"""Ownership verification: query a suspect with the key, test, and state a verdict."""

import dataclasses

import numpy as np

from kwm.export.serving_temperature import temper_probabilities
from kwm.verification import statistical_tests
from kwm.verification.answers import query_suspect
from kwm.verification.detection_rate import detection_rate, query_cost

# The tests kwm runs; `DEFAULT_TESTS` are the papers' two.
TESTS = ("t_test", "paired_t_test", "wilcoxon")
DEFAULT_TESTS = ("t_test", "wilcoxon")
T_TESTS = ("t_test", "paired_t_test")  # the margin-calibrated tests on top-1 answers
MIN_WDR_SUBSET = 10
# The verification settings of a key without a protocol (`WatermarkKey.protocol`): the papers'
# two tests, the Wilcoxon test deciding at 0.05 with alpha-certainty 0.3, EWE's 10% T-test margin,
# an API serving its model's own probabilities.
DEFAULT_PROTOCOL = {
    "tests": DEFAULT_TESTS,
    "decision_test": "wilcoxon",
    "significance": 0.05,
    "alpha_certainty": 0.3,
    "t_test_margin": 0.1,
    "temperature": 1.0,
}


def resolve_protocol(key, **given):
    """Each verification setting as given, else from the key's protocol, else kwm's default.

    An owner commits to a protocol with the key (`WatermarkKey.protocol`,
    part of its fingerprint), so that the test that decides is fixed before
    any suspect is seen; `verify_ownership` and `kwm verify` follow it unless
    a setting is given.

    Args:
        key: WatermarkKey.
        **given: settings named in `DEFAULT_PROTOCOL`; None: not given.

    Returns:
        `(settings, sources)`: every setting of `DEFAULT_PROTOCOL` (`tests`
        as a tuple), and where each came from: `"given"`, `"key"` or
        `"default"`.

    Examples:

    >>> import numpy as np, kwm
    >>> key = kwm.watermarks.WatermarkKey("baseline", "toy", 2, target_class=1,
    ...     source_class=0, source_dataset="toy", trigger=None, seed=0,
    ...     embed_inputs=np.zeros((4, 3)), verify_inputs=np.ones((40, 3)),
    ...     reference_inputs=np.zeros((40, 3)),
    ...     protocol={"tests": ["t_test", "paired_t_test"], "decision_test": "paired_t_test"})
    >>> settings, sources = resolve_protocol(key, significance=0.01)
    >>> settings["decision_test"], sources["decision_test"], sources["significance"]
    ('paired_t_test', 'key', 'given')
    """
    unknown = sorted(set(given) - set(DEFAULT_PROTOCOL))
    if unknown:
        raise ValueError(
            f"Verification settings are {tuple(DEFAULT_PROTOCOL)}. Received: {unknown}"
        )
    protocol = key.protocol or {}
    settings, sources = {}, {}
    for name, default in DEFAULT_PROTOCOL.items():
        if given.get(name) is not None:
            settings[name], sources[name] = given[name], "given"
        elif name in protocol:
            settings[name], sources[name] = protocol[name], "key"
        else:
            settings[name], sources[name] = default, "default"
    settings["tests"] = tuple(settings["tests"])
    return settings, sources

DECISION_RULE = """\
kwm claims ownership of a suspect if and only if its decision test (one
test, named in the recipe or with `decision_test`; the Wilcoxon test with
alpha-certainty by default) rejects its null hypothesis at the significance
level on all of the key's verification inputs. Every other test is
evidence: it is reported with its statistic and p-value as "H0 rejected"
or "H0 kept", never as a claim. The T-tests (EWE's two-sample test and its
paired version) are calibrated per key on the owner's reference models of
several architectures: their margin is EWE's 10% plus the largest trigger
effect measured on them (in-distribution keys), or their null rate is the
models' largest false rate (out-of-distribution keys); the Wilcoxon test's
alpha-certainty (0.3) is fixed. A suspect that answers top-1 labels only is
decided by the T-test: the Wilcoxon test needs class probabilities and is
reported as not run."""

LABELS_ONLY = "needs class probabilities; the suspect answers top-1 labels only"

_TEST_TITLES = {
    "t_test": "EWE two-sample T-test",
    "paired_t_test": "paired T-test",
    "wilcoxon": "Wilcoxon signed-rank test with alpha-certainty",
}

_HYPOTHESES = {
    "t_test": (
        "EWE two-sample T-test (Welch, one-sided, Agresti-Caffo adjusted) on "
        "watermark success: H0 success rate - false watermark rate <= {margin}"
    ),
    "paired_t_test": (
        "paired T-test (one-sided, Agresti-Min adjusted) on watermark success, each "
        "verification input beside itself without the trigger: H0 success rate - false "
        "watermark rate <= {margin}"
    ),
    "wilcoxon": (
        "Wilcoxon signed-rank test with alpha-certainty (feature sharing, "
        "sec. 3.2): H0 p(target|watermark) - p(target|reference) < {alpha}"
    ),
}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The outcome of one ownership test.

    Args:
        test: str. One of `TESTS`.
        hypothesis: str. What was tested.
        statistic: float. Test statistic.
        p_value: float. One-sided p-value.
        significance: float. Level at which H0 is rejected.
        claimed: bool. Whether H0 was rejected. A rejection is evidence;
            ownership is claimed only by the decision test of an
            `OwnershipReport` (`DECISION_RULE`).
        num_queries: int. Queries made to the suspect for this test.
        key_fingerprint: str. SHA-256 fingerprint of the key used.
        details: dict. Rates and sample sizes behind the statistic.
    """

    test: str
    hypothesis: str
    statistic: float
    p_value: float
    significance: float
    claimed: bool
    num_queries: int
    key_fingerprint: str
    details: dict

    def to_dict(self):
        return dataclasses.asdict(self)

    @property
    def p_value_text(self):
        # A p-value of 0 is one below float64's range, not an impossibility.
        return "p<1e-300" if self.p_value == 0 else f"p={self.p_value:.3g}"

    def __str__(self):
        outcome = "H0 rejected" if self.claimed else "H0 kept"
        relation = "<=" if self.claimed else ">"
        return (
            f"{outcome}: {self.hypothesis}; statistic={self.statistic:.4g}, "
            f"{self.p_value_text} {relation} {self.significance} with "
            f"{self.num_queries} queries; key sha256:{self.key_fingerprint[:16]}"
        )


@dataclasses.dataclass(frozen=True)
class OwnershipReport:
    """Everything verification measured on one suspect.

    Args:
        suspect: str. Name of the suspect.
        key_fingerprint: str. Fingerprint of the key.
        watermark_accuracy: float. Fraction of watermark queries answered
            with the target class (the papers' "watermark success/accuracy").
        reference_rate: float or None. The same on the trigger-free
            reference inputs (EWE's "false watermark rate").
        verdicts: dict. Test name to `Verdict` on all verification inputs.
        detection_rates: dict. Test name to WDR over random subsets.
        wdr_subset_size: int. Inputs per WDR draw.
        query_costs: dict. Test name to the fewest queries that claim with
            95% detection (None when unreachable).
        decision_test: str. The test whose verdict is `claimed`.
        num_queries: int. Queries made to the suspect in total.
        not_applicable: dict. Test name to the reason it was not run (the
            Wilcoxon test on a suspect that answers labels only).
        answers: `SuspectAnswers` or None. What the suspect answered (in
            `to_dict(include_answers=True)`, for a claim that replays).
    """

    suspect: str
    key_fingerprint: str
    watermark_accuracy: float
    reference_rate: object
    verdicts: dict
    detection_rates: dict
    wdr_subset_size: int
    query_costs: dict
    decision_test: str
    num_queries: int
    not_applicable: dict = dataclasses.field(default_factory=dict)
    answers: object = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def claimed(self):
        return self.verdicts[self.decision_test].claimed

    def to_dict(self, include_answers=False):
        """The report as JSON-ready data; the suspect's answers only if asked for."""
        out = dataclasses.asdict(dataclasses.replace(self, answers=None))
        del out["answers"]
        if not self.not_applicable:
            del out["not_applicable"]
        out["verdicts"] = {k: v.to_dict() for k, v in self.verdicts.items()}
        out["claimed"] = self.claimed
        if include_answers and self.answers is not None:
            out["answers"] = self.answers.to_dict()
        return out

    def verdict_line(self):
        """One line: the claim (or not), the decision test, its p-value, queries and key."""
        verdict = self.verdicts[self.decision_test]
        return (
            ("VERDICT: OWNERSHIP CLAIMED" if self.claimed else "VERDICT: ownership not claimed")
            + f" by kwm's decision rule, the {_TEST_TITLES[self.decision_test]} "
            f"({verdict.p_value_text} {'<=' if verdict.claimed else '>'} "
            f"{verdict.significance}, {verdict.num_queries} queries, "
            f"key sha256:{self.key_fingerprint[:16]})"
        )

    def summary(self):
        """The rates, every test (decision first, then evidence) and the verdict line."""
        lines = [
            f"Suspect {self.suspect}: watermark accuracy "
            f"{100 * self.watermark_accuracy:.2f}%"
            + (
                f", false watermark rate {100 * self.reference_rate:.2f}%"
                if self.reference_rate is not None
                else ""
            )
        ]
        order = [self.decision_test] + [t for t in self.verdicts if t != self.decision_test]
        for name in order:
            role = "decision" if name == self.decision_test else "evidence"
            lines.append(
                f"  [{role}] {self.verdicts[name]}; WDR "
                f"{100 * self.detection_rates[name]:.1f}% (subsets of {self.wdr_subset_size})"
            )
        for name, reason in self.not_applicable.items():
            lines.append(f"  [not run] {_TEST_TITLES[name]}: {reason}")
        lines.append("  " + self.verdict_line())
        return "\n".join(lines)


def verify_ownership(
    suspect,
    key,
    tests=None,
    decision_test=None,
    significance=None,
    alpha_certainty=None,
    t_test_margin=None,
    wdr_draws=200,
    wdr_fraction=0.1,
    seed=0,
    name=None,
    false_rate=None,
    temperature=None,
    budget=None,
):
    """Tests whether a suspect model carries the key's watermark.

    Queries the suspect (black-box) on the key's held-out verification
    inputs and, for in-distribution keys, on the same inputs without the
    trigger; then runs the requested tests on all answers, the watermark
    detection rate (WDR) over `wdr_draws` random subsets of
    `wdr_fraction` of the inputs, and the query cost of a 95%-reliable
    claim. Answers are validated first: a suspect whose outputs have the
    wrong number of classes or are not finite probabilities raises
    `InvalidPredictionError` before any verdict is formed.

    The tests, decision test, significance, margins and temperature not
    given come from the key's protocol (`WatermarkKey.protocol`, what the
    owner committed to), else from `DEFAULT_PROTOCOL` (`resolve_protocol`).

    Args:
        suspect: anything `PredictionAPI` accepts.
        key: WatermarkKey.
        tests: sequence of str. Tests to run, from `TESTS`: `"t_test"` (EWE's
            two-sample T-test), `"paired_t_test"` (the same hypotheses on each
            verification input paired with its trigger-free reference) and
            `"wilcoxon"`; by default the papers' two.
        decision_test: str. The test that decides `OwnershipReport.claimed`.
        significance: float. Rejection level (0.05 in both papers).
        alpha_certainty: float. Margin of the Wilcoxon test (0.3 in the
            feature-sharing paper).
        t_test_margin: float. Margin of the T-test over the false watermark
            rate (EWE's conservative 10% bound; see `watermark_t_test`). For
            a key with a calibrated `trigger_effect`, the largest effect the
            owner measured on reference models is added to it (a positive
            one): what the trigger alone does to a model without the
            watermark is not evidence.
        wdr_draws: int. Random subsets for the WDR (200 in the paper).
        wdr_fraction: float. Fraction of the verification set per subset
            (at least `MIN_WDR_SUBSET` inputs).
        seed: int. Seed of the subset draws.
        name: str or None. Suspect name for the report.
        false_rate: float or None. For keys without trigger-free references
            (out-of-distribution watermarks) only: the rate at which models
            *without* the watermark assign the key's verification inputs to
            the target. Defaults to the rate committed in the key
            (`kwm.verification.calibrate_false_rate`); one of the two is
            required. Chance (1 / classes) is not a safe stand-in: an
            independent Fashion-MNIST model sent 23% of MNIST 8s to "T-shirt".
        temperature: float. The temperature at which the owner's API served
            the watermarked model (`export_for_serving(temperature=...)`).
            A copy distilled from that API answers at that temperature, and
            the Wilcoxon test's alpha-certainty is a margin on probabilities,
            so the suspect's probabilities are re-tempered by `1 / temperature`
            (`softmax(temperature * log q)`, the same for every suspect) before
            that test: the margin then applies at the scale of the owner's own
            model. The T-test reads top-1 answers, which no temperature
            changes. 1: the probabilities as answered.
        budget: int or None. Most queries to send: the first verification
            inputs that fit are used (two queries each with a trigger-free
            reference). None: all of them.

    A suspect that answers labels only (`PredictionAPI(answers="labels")`,
    or detected) gets the T-test alone, which then decides; the Wilcoxon
    test is listed in `not_applicable`.

    Returns:
        An `OwnershipReport` holding the suspect's answers (`answers`).

    Examples:

    >>> import numpy as np, kwm
    >>> key = kwm.watermarks.WatermarkKey("baseline", "toy", 2, target_class=1,
    ...     source_class=0, source_dataset="toy", trigger=None, seed=0,
    ...     embed_inputs=np.zeros((4, 3)), verify_inputs=np.ones((40, 3)),
    ...     reference_inputs=np.zeros((40, 3)))
    >>> stolen = lambda x: np.stack([1 - x[:, 0] * 0.9, x[:, 0] * 0.9], 1)
    >>> verify_ownership(stolen, key).claimed
    True
    """
    settings, _ = resolve_protocol(
        key, tests=tests, decision_test=decision_test, significance=significance,
        alpha_certainty=alpha_certainty, t_test_margin=t_test_margin, temperature=temperature,
    )
    _check_settings(key, settings["tests"], settings["decision_test"], false_rate,
                    settings["temperature"], settings["t_test_margin"])
    answers = query_suspect(suspect, key, budget=budget, name=name)
    return verify_answers(
        answers, key, **settings, wdr_draws=wdr_draws, wdr_fraction=wdr_fraction, seed=seed,
        false_rate=false_rate,
    )


def _check_settings(key, tests, decision_test, false_rate, temperature, t_test_margin):
    unknown = [t for t in tests if t not in TESTS]
    if unknown or not tests:
        raise ValueError(f"`tests` must be drawn from {TESTS}. Received: tests={tests}")
    if decision_test not in tests:
        raise ValueError(
            f"`decision_test` must be one of the tests run {tuple(tests)}. "
            f"Received: decision_test={decision_test!r}"
        )
    if key.reference_inputs is None and false_rate is None and key.false_rate is not None:
        false_rate = key.false_rate["value"]
    if key.reference_inputs is None and false_rate is None:
        raise ValueError(
            "This key has no trigger-free reference inputs (out-of-distribution "
            "watermarks), so the suspect's false watermark rate cannot be measured, "
            "and chance (1 / classes) can accuse an independent model. Calibrate the "
            "key on reference models (kwm.verification.calibrate_false_rate) or pass "
            "the target rate measured on models without the watermark. "
            f"Received: false_rate={false_rate}"
        )
    if key.reference_inputs is not None and false_rate is not None:
        raise ValueError(
            "`false_rate` is for keys without reference inputs; this key's false "
            f"watermark rate is measured on the suspect itself. Received: false_rate={false_rate}"
        )
    if false_rate is not None and not 0.0 <= false_rate < 1.0:
        raise ValueError(f"`false_rate` must lie in [0, 1). Received: false_rate={false_rate}")
    temperature = float(temperature)
    if not temperature > 0:
        raise ValueError(f"`temperature` must be positive. Received: temperature={temperature}")
    if not 0.0 <= t_test_margin < 1.0:
        raise ValueError(
            f"`t_test_margin` must lie in [0, 1). Received: t_test_margin={t_test_margin}"
        )


def verify_answers(
    answers,
    key,
    tests=None,
    decision_test=None,
    significance=None,
    alpha_certainty=None,
    t_test_margin=None,
    wdr_draws=200,
    wdr_fraction=0.1,
    seed=0,
    false_rate=None,
    temperature=None,
):
    """Runs the ownership tests on answers a suspect gave (`verify_ownership` without querying).

    Replays a recorded claim offline (`kwm replay`): the same answers, key
    and settings give the same verdicts.

    Args:
        answers: `SuspectAnswers` (from `query_suspect`, or a claim file).
        key: WatermarkKey. The key the answers were given to (checked by
            fingerprint).
        Others: as in `verify_ownership` (settings not given: the key's
            protocol, else `DEFAULT_PROTOCOL`).

    Returns:
        An `OwnershipReport`.

    Examples:

    >>> import numpy as np, kwm
    >>> from kwm.verification import query_suspect
    >>> key = kwm.watermarks.WatermarkKey("baseline", "toy", 2, target_class=1,
    ...     source_class=0, source_dataset="toy", trigger=None, seed=0,
    ...     embed_inputs=np.zeros((4, 3)), verify_inputs=np.ones((40, 3)),
    ...     reference_inputs=np.zeros((40, 3)))
    >>> labels = lambda x: x[:, 0].astype("int64")  # an API answering top-1 labels only
    >>> report = verify_answers(query_suspect(labels, key), key)
    >>> report.decision_test, report.claimed, sorted(report.not_applicable)
    ('t_test', True, ['wilcoxon'])
    """
    settings, _ = resolve_protocol(
        key, tests=tests, decision_test=decision_test, significance=significance,
        alpha_certainty=alpha_certainty, t_test_margin=t_test_margin, temperature=temperature,
    )
    tests, decision_test = settings["tests"], settings["decision_test"]
    significance, alpha_certainty = settings["significance"], settings["alpha_certainty"]
    t_test_margin, temperature = settings["t_test_margin"], settings["temperature"]
    _check_settings(key, tests, decision_test, false_rate, temperature, t_test_margin)
    if answers.key_fingerprint != key.fingerprint:
        raise ValueError(
            f"These answers were given to the key sha256:{answers.key_fingerprint[:16]}, not to "
            f"this one (sha256:{key.fingerprint[:16]}). Received: "
            f"key_fingerprint={answers.key_fingerprint!r}"
        )
    if (answers.reference is None) != (key.reference_inputs is None):
        raise ValueError(
            "The answers and the key disagree on trigger-free reference inputs. Received: "
            f"reference answers {'absent' if answers.reference is None else 'present'}"
        )
    tests = tuple(tests)
    not_applicable = {}
    if answers.labels_only and "wilcoxon" in tests:
        not_applicable["wilcoxon"] = LABELS_ONLY
        tests = tuple(t for t in tests if t != "wilcoxon")
        if not tests:
            raise ValueError(
                "The suspect answers labels only and the Wilcoxon test "
                f"{LABELS_ONLY[:25]}; run the T-test too. Received: tests=('wilcoxon',)"
            )
        if decision_test == "wilcoxon":
            decision_test = "t_test"
    temperature = float(temperature)
    false_rate_source = "given"
    if key.reference_inputs is None and false_rate is None:
        false_rate, false_rate_source = key.false_rate["value"], "key"
    margin_source = "EWE's bound"
    if key.trigger_effect is not None and key.trigger_effect["value"] > 0:
        t_test_margin = round(t_test_margin + key.trigger_effect["value"], 12)
        count = len(key.trigger_effect.get("effects") or [])
        margin_source = (
            f"EWE's bound + largest trigger effect of the key's {count} reference models"
        )
    fingerprint = key.fingerprint
    target = key.target_class
    watermark_probs = np.asarray(answers.watermark, dtype="float32")
    reference_probs = (
        None if answers.reference is None else np.asarray(answers.reference, dtype="float32")
    )
    num_queries = answers.num_queries

    chance = 1.0 / key.num_classes if false_rate is None else float(false_rate)
    success = watermark_probs.argmax(axis=1) == target
    reference_success = None if reference_probs is None else reference_probs.argmax(axis=1) == target
    if temperature != 1.0:
        # Re-tempering by 1 / temperature undoes the owner's `ServingTemperature`.
        watermark_probs = temper_probabilities(watermark_probs, 1.0 / temperature)
        if reference_probs is not None:
            reference_probs = temper_probabilities(reference_probs, 1.0 / temperature)
    p = watermark_probs[:, target]
    q = None if reference_probs is None else reference_probs[:, target]

    def run(test, indices):
        if test in T_TESTS:
            t_test = (
                statistical_tests.watermark_t_test
                if test == "t_test"
                else statistical_tests.paired_watermark_t_test
            )
            return t_test(
                success[indices],
                None if reference_success is None else reference_success[indices],
                chance=chance,
                margin=t_test_margin,
            )
        return statistical_tests.wilcoxon_alpha_test(
            p[indices], None if q is None else q[indices], chance=chance, alpha=alpha_certainty
        )

    n = len(success)
    everything = np.arange(n)
    per_input = 1 if reference_probs is None else 2
    # A Wilcoxon test on fewer than 5 pairs cannot reach p < 0.05 (its
    # smallest one-sided p-value is 2**-n), so WDR subsets hold at least
    # `MIN_WDR_SUBSET` inputs (or the whole set, if smaller).
    subset = min(n, max(MIN_WDR_SUBSET, int(round(wdr_fraction * n))))
    verdicts, rates, costs = {}, {}, {}
    for test in tests:
        statistic, p_value, details = run(test, everything)
        verdicts[test] = Verdict(
            test=test,
            hypothesis=_HYPOTHESES[test].format(
                margin=f"{t_test_margin:.3g}", alpha=alpha_certainty
            )
            + (f" ({margin_source})" if test in T_TESTS else "")
            + (
                f" on probabilities re-tempered by 1/{temperature:g}"
                if test == "wilcoxon" and temperature != 1.0
                else ""
            )
            + (
                ""
                if reference_probs is not None
                else f" (reference: false rate {chance:.3g}, {false_rate_source})"
            ),
            statistic=statistic,
            p_value=p_value,
            significance=significance,
            claimed=bool(p_value <= significance),
            num_queries=num_queries,
            key_fingerprint=fingerprint,
            details=details,
        )

        def p_of(indices, test=test):
            return run(test, indices)[1]

        rates[test] = detection_rate(p_of, n, subset, wdr_draws, significance, seed)
        cost, curve = query_cost(
            p_of, n, per_input, draws=wdr_draws, significance=significance, seed=seed
        )
        costs[test] = {"queries": cost, "curve": curve}
    return OwnershipReport(
        suspect=answers.suspect,
        key_fingerprint=fingerprint,
        watermark_accuracy=float(success.mean()),
        reference_rate=None if reference_success is None else float(reference_success.mean()),
        verdicts=verdicts,
        detection_rates=rates,
        wdr_subset_size=subset,
        query_costs=costs,
        decision_test=decision_test,
        num_queries=num_queries,
        not_applicable=not_applicable,
        answers=answers,
    )
