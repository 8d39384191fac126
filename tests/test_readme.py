"""The README's quickstart runs as written: a user's own model, their compile, a plain `fit`."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _block(marker):
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    match = re.search(re.escape(f"<!-- {marker} -->") + r"\s*```\w*\n(.*?)```", text, re.S)
    assert match, f"README.md has no code block after <!-- {marker} -->"
    return match.group(1)


def test_readme_is_short_and_speaks_to_users():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    assert len(text.splitlines()) <= 250
    assert not re.search(r"issue \d|commit [0-9a-f]{7}", text)


@pytest.mark.skipif(os.name != "posix", reason="runs the quickstart in a subprocess")
def test_quickstart_watermarks_a_users_own_model_and_verifies_it(tmp_path):
    code = _block("quickstart")
    assert "model.fit(" in code and "model.compile(" in code
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rates = re.search(r"^\[([^\]]*)\] \[([^\]]*)\]$", result.stdout, re.M)
    assert rates, result.stdout[-2000:]
    watermark = [float(v) for v in rates.group(1).split(",")]
    false_rate = [float(v) for v in rates.group(2).split(",")]
    assert len(watermark) == 3 and watermark[-1] >= 0.9  # the callback's figures in History
    assert false_rate[-1] <= 0.1
    assert "VERDICT: OWNERSHIP CLAIMED" in result.stdout
    assert (tmp_path / "key.json").exists() and (tmp_path / "served").is_dir()
