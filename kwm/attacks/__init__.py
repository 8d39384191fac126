"""Attacks on watermarked models: extraction (removal attacks come next)."""

from kwm.attacks.extraction import (
    ExtractionResult,
    extract_model,
    hard_labels,
    soft_labels,
)
