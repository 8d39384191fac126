import os

import pytest

from kwm.reports import staged_directory


def test_failure_leaves_nothing(tmp_path):
    final = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with staged_directory(final) as stage:
            open(os.path.join(stage, "half.json"), "w").close()
            raise RuntimeError("boom")
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_only_when_asked(tmp_path):
    final = tmp_path / "run"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(FileExistsError, match="Received: output="):
        with staged_directory(final):
            pass
    with staged_directory(final, overwrite=True) as stage:
        open(os.path.join(stage, "new.txt"), "w").close()
    assert os.listdir(final) == ["new.txt"]
