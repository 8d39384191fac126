"""Ownership verification from black-box queries: tests, verdicts, WDR, query cost."""

from kwm.verification.accuracy import fidelity, task_accuracy, watermark_accuracy
from kwm.verification.answers import SuspectAnswers, query_suspect, verification_indices
from kwm.verification.detection_rate import detection_rate, query_cost
from kwm.verification.false_rate import (
    calibrate_false_rate,
    calibrate_trigger_effect,
    check_trigger_effect,
    measure_trigger_effect,
)
from kwm.verification.ownership import (
    DECISION_RULE,
    DEFAULT_PROTOCOL,
    DEFAULT_TESTS,
    TESTS,
    OwnershipReport,
    Verdict,
    resolve_protocol,
    verify_answers,
    verify_ownership,
)
from kwm.verification.query_planning import queries_needed
from kwm.verification.statistical_tests import (
    paired_watermark_t_test,
    watermark_t_test,
    wilcoxon_alpha_test,
)
