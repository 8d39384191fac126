"""Attacks on watermarked models: extraction and removal."""

from kwm.attacks.adaptive_extraction import adaptive_extract_model
from kwm.attacks.extraction import (
    ExtractionResult,
    extract_model,
    hard_labels,
    label_transform,
    quantized_labels,
    soft_labels,
    tempered_labels,
)
from kwm.attacks.neural_cleanse import (
    NeuralCleanseResult,
    ReversedTrigger,
    anomaly_indices,
    neural_cleanse,
    reverse_engineer_trigger,
    unlearn,
)
from kwm.attacks.pruning import (
    PruningResult,
    fine_prune,
    fine_tune,
    magnitude_prune,
    mean_activations,
    prune_neurons,
)
from kwm.attacks.suite import (
    ATTACKS,
    AttackContext,
    AttackSettings,
    available_attacks,
    register_attack,
    resolve_attacks,
    run_attacks,
)
from kwm.attacks.tfmot_pruning import tf_keras_twin, tfmot_prune
from kwm.attacks.thieves import (
    THIEVES,
    Thief,
    available_thieves,
    get_thief,
    register_thief,
    steal,
)
from kwm.attacks.weight_noise import add_weight_noise
