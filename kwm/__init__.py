"""kwm: watermarks that survive model extraction, and the statistics that prove theft.

Public surface:
- `kwm.datasets.load`: task datasets with provenance.
- `kwm.architectures.ewe_cnn`: the papers' models.
- `kwm.WatermarkKey`, `kwm.generate_key`, `kwm.PatchTrigger`: the owner's secret.
- `kwm.embed_baseline_watermark`: the baseline backdoor watermark.
- `kwm.embed_ewe_watermark`, `kwm.EWEModel`, `kwm.losses.SoftNearestNeighbourLoss`: EWE.
- `kwm.embed_feature_sharing_watermark`: feature sharing (frozen extractor, watermarked head).
- `kwm.PredictionAPI`: black-box access to any model.
- `kwm.extract_model`: the thief's extraction attack.
- `kwm.verify_ownership`: tests, verdicts, detection rate, query cost.
- `kwm.export_for_serving`: a SavedModel to serve, without the key.
- `kwm.watermarks.watermark_dataset`, `kwm.callbacks.WatermarkAccuracy`: watermarking inside
  the user's own `model.fit`.
"""

from kwm.version import __version__

from kwm import (
    architectures,
    attacks,
    callbacks,
    datasets,
    export,
    losses,
    verification,
    watermarks,
)
from kwm.attacks import extract_model
from kwm.export import export_for_serving
from kwm.prediction_api import InvalidPredictionError, PredictionAPI
from kwm.verification import OwnershipReport, Verdict, verify_ownership
from kwm.watermarks import (
    EWEModel,
    KeyIntegrityError,
    PatchTrigger,
    WatermarkKey,
    embed_baseline_watermark,
    embed_ewe_watermark,
    embed_feature_sharing_watermark,
    generate_key,
)
