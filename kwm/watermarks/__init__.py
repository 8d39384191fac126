"""Watermark keys, triggers, and the methods that embed them."""

from kwm.watermarks.baseline import embed_baseline_watermark
from kwm.watermarks.ewe import embed_ewe_watermark, ewe_trigger, ewe_triggers
from kwm.watermarks.ewe_generation import (
    class_confusion,
    class_similarity,
    ordered_class_pairs,
    refine_watermarks,
    select_class_pair,
    snnl_input_gradient,
    trigger_position,
    trigger_positions,
)
from kwm.watermarks.ewe_model import EWEModel
from kwm.watermarks.feature_sharing import (
    embed_feature_sharing_watermark,
    freeze_feature_extractor,
)
from kwm.watermarks.key import KeyIntegrityError, WatermarkKey
from kwm.watermarks.key_generation import generate_key
from kwm.watermarks.schedule import paired_inputs, watermark_dataset, watermark_schedule
from kwm.watermarks.trigger import (
    RARE_TOKENS,
    TRIGGERS,
    NaturalWordTrigger,
    PatchTrigger,
    TokenTrigger,
    Trigger,
    register_trigger,
)
