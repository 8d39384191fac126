"""The false watermark rate of out-of-distribution keys, measured on reference models."""

import dataclasses

import numpy as np

from kwm.prediction_api import as_prediction_api

MIN_REFERENCE_MODELS = 3


def _named_reference_models(reference_models, names):
    """The reference models as a list (at least `MIN_REFERENCE_MODELS`) and one name for each."""
    reference_models = list(reference_models)
    if len(reference_models) < MIN_REFERENCE_MODELS:
        raise ValueError(
            f"Use at least {MIN_REFERENCE_MODELS} reference models: one model's rate says "
            "nothing about how independent models vary. Received: "
            f"{len(reference_models)} reference models"
        )
    if names is None:
        names = [f"reference model {i}" for i in range(len(reference_models))]
    names = [str(n) for n in names]
    if len(names) != len(reference_models):
        raise ValueError(
            "Give one name per reference model. Received: "
            f"{len(names)} names for {len(reference_models)} models"
        )
    return reference_models, names


def calibrate_false_rate(key, reference_models, names=None, max_false_rate=0.1):
    """Measures how often models without the watermark answer the key's target.

    An in-distribution key carries the same inputs without the trigger, so
    a suspect's own false watermark rate is measured at verification (EWE
    section 4.3.4). An out-of-distribution key (another dataset's inputs,
    perhaps refined) has no trigger-free counterpart, and chance (1 / K) is
    no safe stand-in: an independent Fashion-MNIST model sent 23% of MNIST
    8s to "T-shirt". The owner therefore trains `reference_models` on its
    own task data *without* the watermark (different initialisations, as an
    independent party would) and records the largest fraction of the key's
    verification inputs that any of them assigns to the target. That rate is
    the null against which `verify_ownership` tests a suspect (the T-test
    then also demands its 10% margin, the Wilcoxon test its alpha-certainty
    above it). With `m` exchangeable reference models, a new independent
    model exceeds their maximum with probability at most `1 / (m + 1)`, so
    the margins, not the maximum alone, carry the guarantee; use as many
    reference models as the budget allows (at least 3).

    Models disagree wildly on inputs from another distribution, so a key
    whose sources models without the watermark already send to the target
    is refused (`max_false_rate`). Measured on MNIST CNNs trained alike but
    seeded differently: Fashion-MNIST trousers went to "7" at rates from
    4.5% to 65%; a key "trousers -> 7" calibrated at 28% on three
    reference models let the T-test accuse an independent model at 65%.
    Choose sources and a target that such models do not associate.

    Args:
        key: WatermarkKey without `reference_inputs`.
        reference_models: sequence of anything `PredictionAPI` accepts,
            trained on the task without the watermark.
        names: sequence of str or None. How the models are described in the
            key (e.g. their seeds and training).
        max_false_rate: float. The largest rate a reference model may show
            for the key to be usable (EWE's 10% false watermark bound).

    Returns:
        The key with `false_rate` set; its fingerprint changes accordingly,
        so calibrate before the key is saved and committed to.

    Examples:

    >>> import numpy as np, kwm
    >>> key = kwm.watermarks.WatermarkKey("ewe", "toy", 2, target_class=1,
    ...     source_class=0, source_dataset="other", trigger=None, seed=0,
    ...     embed_inputs=np.zeros((4, 3)), verify_inputs=np.ones((10, 3)))
    >>> clean = [lambda x, k=k: np.eye(2)[(np.arange(len(x)) < k).astype(int)] for k in (0, 1, 1)]
    >>> key = kwm.verification.calibrate_false_rate(key, clean)
    >>> key.false_rate["rates"], key.false_rate["value"]
    ([0.0, 0.1, 0.1], 0.1)
    """
    if key.reference_inputs is not None:
        raise ValueError(
            "This key carries trigger-free reference inputs; a suspect's false "
            "watermark rate is measured on the suspect itself. Received: a key with "
            f"reference_inputs of shape {np.shape(key.reference_inputs)}"
        )
    reference_models, names = _named_reference_models(reference_models, names)
    rates = []
    for model, name in zip(reference_models, names):
        api = as_prediction_api(model, num_classes=key.num_classes, name=name)
        answers = api(key.verify_inputs).argmax(axis=1)
        rates.append(float(np.mean(answers == key.target_class)))
    if max(rates) > max_false_rate:
        raise ValueError(
            f"Models without the watermark send up to {100 * max(rates):.1f}% of this key's "
            f"verification inputs to the target (allowed: {100 * max_false_rate:g}%). Models "
            "disagree widely on such inputs, so an independent model may send far more and "
            "be accused; choose watermark sources and a target that models without the "
            f"watermark do not associate. Received: rates={rates}"
        )
    return dataclasses.replace(
        key,
        false_rate={
            "value": max(rates),
            "rule": "largest rate of the reference models",
            "max_allowed": float(max_false_rate),
            "rates": rates,
            "mean": float(np.mean(rates)),
            "std": float(np.std(rates)),
            "num_inputs": int(len(key.verify_inputs)),
            "models": names,
        },
    )


def measure_trigger_effect(key, reference_models, names=None):
    """How far an in-distribution key's trigger alone moves models towards the target.

    For each of `reference_models` (trained on the task without the
    watermark): the target rate on the key's verification inputs minus that
    on their trigger-free references. `check_trigger_effect` refuses a key
    on it; an owner choosing among trigger positions compares them on it.

    Args:
        key: WatermarkKey with `reference_inputs` (in-distribution).
        reference_models: sequence of anything `PredictionAPI` accepts,
            trained on the task without the watermark (at least 3).
        names: sequence of str or None. How the models are described.

    Returns:
        A JSON-ready dict: per model the target rates with and without the
        trigger and their difference (`effects`), and the largest (`value`).

    Examples:

    >>> import numpy as np, kwm
    >>> key = kwm.watermarks.WatermarkKey("ewe", "toy", 2, target_class=1,
    ...     source_class=0, source_dataset="toy", trigger=None, seed=0,
    ...     embed_inputs=np.ones((4, 3)), verify_inputs=np.ones((10, 3)),
    ...     reference_inputs=np.zeros((10, 3)))
    >>> follows = [lambda x: np.eye(2)[(x[:, 0] > 0.5).astype(int)]] * 3
    >>> kwm.verification.measure_trigger_effect(key, follows)["value"]
    1.0
    """
    if key.reference_inputs is None:
        raise ValueError(
            "This key has no trigger-free reference inputs (out-of-distribution "
            "watermarks); measure its false watermark rate with `calibrate_false_rate`. "
            "Received: reference_inputs=None"
        )
    reference_models, names = _named_reference_models(reference_models, names)
    triggered, untriggered = [], []
    for model, name in zip(reference_models, names):
        api = as_prediction_api(model, num_classes=key.num_classes, name=name)
        triggered.append(float(np.mean(api(key.verify_inputs).argmax(axis=1) == key.target_class)))
        untriggered.append(
            float(np.mean(api(key.reference_inputs).argmax(axis=1) == key.target_class))
        )
    # Rounded, so that an effect of exactly the bound (rates are multiples of
    # 1 / n) compares as equal rather than a floating-point hair above it.
    effects = [round(t - u, 12) for t, u in zip(triggered, untriggered)]
    return {
        "value": max(effects),
        "rule": "largest trigger effect (triggered minus untriggered target rate) of the reference models",
        "effects": effects,
        "triggered_rates": triggered,
        "untriggered_rates": untriggered,
        "num_inputs": int(len(key.verify_inputs)),
        "models": names,
    }


def check_trigger_effect(key, reference_models, names=None, max_effect=0.05):
    """Refuses an in-distribution key whose trigger alone moves models to the target.

    An in-distribution key's suspect is tested against its own answers on
    the same inputs without the trigger, with a margin (the T-test's 10%,
    the Wilcoxon test's alpha-certainty). That protects an independent
    model only if the trigger does not, by itself, push models trained
    without the watermark towards the target. A trigger placed where it
    moves representations most towards the target (EWE Algorithm 1) can do
    exactly that: on Fashion-MNIST coat -> pullover, independent models sent
    22-27% of triggered coats to pullover against 9% without the trigger,
    and the T-test accused one (p = 0.019). The owner therefore measures,
    on `reference_models` trained on the task without the watermark, the
    target rate on the key's verification inputs minus that on their
    trigger-free references, and refuses the key if any model's difference
    exceeds `max_effect`: by default half the T-test's 10% margin, since
    models differ (on Fashion-MNIST, a key that moved 3 reference models by
    at most 5.5 points moved an independent model by 13).

    Args:
        key: WatermarkKey with `reference_inputs` (in-distribution).
        reference_models: sequence of anything `PredictionAPI` accepts,
            trained on the task without the watermark (at least 3).
        names: sequence of str or None. How the models are described.
        max_effect: float. The largest trigger effect allowed (half the
            T-test's margin, EWE's 10% false watermark bound).

    Returns:
        A JSON-ready dict: per model the target rates with and without the
        trigger and their difference, and the largest difference.

    Examples:

    >>> import numpy as np, kwm
    >>> key = kwm.watermarks.WatermarkKey("ewe", "toy", 2, target_class=1,
    ...     source_class=0, source_dataset="toy", trigger=None, seed=0,
    ...     embed_inputs=np.ones((4, 3)), verify_inputs=np.ones((10, 3)),
    ...     reference_inputs=np.zeros((10, 3)))
    >>> clean = [lambda x: np.eye(2)[np.zeros(len(x), int)]] * 3
    >>> kwm.verification.check_trigger_effect(key, clean)["value"]
    0.0
    """
    effect = measure_trigger_effect(key, reference_models, names)
    if effect["value"] > max_effect:
        raise ValueError(
            f"Models without the watermark send up to {100 * effect['value']:.1f} points more "
            "of this key's triggered inputs than of the same inputs without the trigger to the "
            f"target (allowed: {100 * max_effect:g}): the trigger alone moves them, and an "
            "independent model could be accused. Choose another trigger position, trigger or "
            f"class pair. Received: triggered rates={effect['triggered_rates']}, "
            f"untriggered rates={effect['untriggered_rates']}"
        )
    return {**effect, "max_allowed": float(max_effect)}


def calibrate_trigger_effect(key, reference_models, names=None, max_effect=0.05):
    """Measures an in-distribution key's trigger effect and commits it to the key.

    The in-distribution counterpart of `calibrate_false_rate`. The T-test
    compares a suspect's target rate on the triggered inputs with its own
    rate on the same inputs without the trigger, and demands a margin (EWE's
    10%). A trigger can move models trained without the watermark by
    itself, and by how much depends on their family: on Fashion-MNIST a
    LeNet-style CNN (tanh, average pooling) moved by 20 points on a key that
    moved three EWE CNNs by at most 5, and the fixed 10% margin let the
    T-test accuse it. So the owner measures the effect on reference models
    of *several* architectures (`kwm.architectures`: the victim's, an MLP,
    a LeNet-style CNN, a batch-norm CNN), refuses the key if any of them
    moves by more than `max_effect` (`check_trigger_effect`), and records
    the effects in the key: `verify_ownership` then tests against the
    T-test margin *plus* the largest effect seen, so a suspect must exceed
    what the trigger alone does to any reference model by the full margin.

    Args:
        key: WatermarkKey with `reference_inputs` (in-distribution).
        reference_models: sequence of anything `PredictionAPI` accepts,
            trained on the task without the watermark (at least 3; of
            several architectures).
        names: sequence of str or None. How the models are described.
        max_effect: float. The largest trigger effect allowed.

    Returns:
        The key with `trigger_effect` set; its fingerprint changes
        accordingly, so calibrate before the key is saved and committed to.

    Examples:

    >>> import numpy as np, kwm
    >>> key = kwm.watermarks.WatermarkKey("ewe", "toy", 2, target_class=1,
    ...     source_class=0, source_dataset="toy", trigger=None, seed=0,
    ...     embed_inputs=np.ones((4, 3)), verify_inputs=np.ones((20, 3)),
    ...     reference_inputs=np.zeros((20, 3)))
    >>> def sways(k):  # sends k triggered inputs to the target
    ...     return lambda x: np.eye(2)[((np.arange(len(x)) < k) & (x[:, 0] > 0.5)).astype(int)]
    >>> key = kwm.verification.calibrate_trigger_effect(key, [sways(0), sways(0), sways(1)])
    >>> key.trigger_effect["value"], key.trigger_effect["effects"]
    (0.05, [0.0, 0.0, 0.05])
    """
    effect = check_trigger_effect(key, reference_models, names, max_effect=max_effect)
    return dataclasses.replace(key, trigger_effect=effect)
