"""Evidence the EWE paper shows: representation similarity between watermarks and task data."""

from kwm.analysis.cka import linear_cka
