"""Export for serving: a SavedModel with the classifier only, never the key."""

from kwm.export.serving import export_for_serving, outputs_logits, serving_model
from kwm.export.serving_temperature import ServingTemperature
