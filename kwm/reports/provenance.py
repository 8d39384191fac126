"""Provenance of the code that produced a result."""

import datetime
import os
import platform
import subprocess
import sys

import kwm


def _git(args, cwd):
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_provenance(argv=None):
    """Versions, git state and command line of the running code.

    Returns:
        A dict with kwm's version, its git commit and whether the work tree
        had uncommitted changes (when kwm runs from a checkout), the
        versions of Python and the numerical libraries, the platform, the
        command line and the UTC time.
    """
    import keras
    import numpy
    import scipy
    import tensorflow

    package_dir = os.path.dirname(os.path.abspath(kwm.__file__))
    commit = _git(["rev-parse", "HEAD"], package_dir)
    dirty = None
    if commit:
        status = _git(["status", "--porcelain", "--untracked-files=no"], package_dir)
        dirty = bool(status)
    return {
        "kwm_version": kwm.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "command": " ".join(sys.argv if argv is None else argv),
        "utc_time": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
    }
