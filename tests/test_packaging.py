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
