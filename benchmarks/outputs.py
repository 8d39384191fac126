"""Where a benchmark's results go: a JSON file and a Markdown table beside it."""

import os

from kwm.reports import write_json


def write_outputs(path, document, markdown):
    """Writes `document` to `path` (JSON) and `markdown` to the same name with `.md`; prints it."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_json(document, path)
    with open(os.path.splitext(path)[0] + ".md", "w", encoding="utf-8") as f:
        f.write(markdown)
    print(markdown)
