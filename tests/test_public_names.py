"""Benchmarks, tests and kwm's own modules use each other through public names only."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_files(folder):
    for base, _, files in os.walk(os.path.join(ROOT, folder)):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(base, name)


def test_no_benchmark_test_or_other_module_imports_a_private_kwm_name():
    offences = []
    for folder in ("benchmarks", "tests", "kwm"):
        for path in _python_files(folder):
            with open(path) as f:
                tree = ast.parse(f.read(), path)
            kwm_modules = set()
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kwm"):
                    for alias in node.names:
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            offences.append(f"{path}: from {node.module} import {alias.name}")
                        kwm_modules.add(alias.asname or alias.name)
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.startswith("kwm"):
                            kwm_modules.add((alias.asname or alias.name).split(".")[0])
            for node in ast.walk(tree):
                if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                        and not node.attr.startswith("__")
                        and isinstance(node.value, ast.Name) and node.value.id in kwm_modules):
                    offences.append(f"{path}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not offences, "use or add a public name instead:\n" + "\n".join(offences)
