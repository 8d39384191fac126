"""Evidence the EWE paper shows: representation similarity between watermarks and task data."""

from kwm.analysis.cka import linear_cka
from kwm.analysis.representations import activation_frequency, layer_outputs, project_2d
