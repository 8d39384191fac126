"""setup.cfg lists packages explicitly (recipes/ is mapped into kwm): keep the list complete."""

import configparser
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_package_is_installed():
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    listed = set(config["options"]["packages"].split())
    found = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "kwm")):
        if "__init__.py" in files:
            found.add(os.path.relpath(folder, ROOT).replace(os.sep, "."))
    assert found <= listed, f"add to setup.cfg [options] packages: {sorted(found - listed)}"
    assert "kwm.recipes.configs" in listed
    assert "kwm.recipes.configs = recipes" in config["options"]["package_dir"]


def test_no_secret_key_or_model_is_committed():
    """Benchmark runs write keys and SavedModels beside their reports; only the reports are tracked."""
    import shutil
    import subprocess

    with open(os.path.join(ROOT, ".gitignore")) as f:
        ignored = f.read().split()
    for pattern in (
        "benchmarks/results/**/seed-*/watermark_key.json",
        "benchmarks/results/**/seed-*/*_savedmodel/",
        "benchmarks/results/**/.*.partial-*/",
    ):
        assert pattern in ignored, f".gitignore must keep {pattern} out of commits"
    if shutil.which("git") is None or not os.path.isdir(os.path.join(ROOT, ".git")):
        return  # an unpacked source tree: nothing is tracked, the patterns above still hold
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    leaked = [p for p in tracked if p.endswith("watermark_key.json") or "_savedmodel/" in p
              or ".partial-" in p]
    assert not leaked, f"remove from git (and check .gitignore): {leaked[:5]}"


def test_every_embedded_sample_file_is_package_data():
    import fnmatch

    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    patterns = config["options.package_data"]["kwm.datasets"].split()
    embedded = os.path.join(ROOT, "kwm", "datasets")
    missing = []
    for folder, _, files in os.walk(os.path.join(embedded, "embedded")):
        for name in files:
            path = os.path.relpath(os.path.join(folder, name), embedded).replace(os.sep, "/")
            if not any(fnmatch.fnmatch(path, pattern) for pattern in patterns):
                missing.append(path)
    assert not missing, f"add to setup.cfg [options.package_data] kwm.datasets: {missing}"


def test_the_kwm_command_is_a_console_script():
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    assert config["options.entry_points"]["console_scripts"].split() == ["kwm", "=", "kwm.cli:main"]
