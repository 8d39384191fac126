"""Reports of recipe runs: JSON, Markdown, figures, provenance."""

from kwm.reports.plots import (
    plot_accuracy_bars,
    plot_attack_curves,
    plot_representations,
    plot_watermark_inputs,
)
from kwm.reports.provenance import code_provenance
from kwm.reports.report import (
    independent_name,
    is_independent,
    plain_verdicts,
    render_markdown,
    write_json,
    write_run_report,
)
from kwm.reports.staging import staged_directory
