"""Output directories that appear whole or not at all."""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def staged_directory(path, overwrite=False):
    """Yields a staging directory that becomes `path` only if the block succeeds.

    Everything a run writes goes to a hidden sibling of `path`; when the
    block exits normally the sibling is renamed to `path`, and when it
    raises the sibling is deleted, so a failed run leaves nothing partial.

    Args:
        path: str. Final directory.
        overwrite: bool. Replace an existing non-empty `path`.

    Raises:
        FileExistsError: `path` exists, is not empty and `overwrite` is
            False (checked before any work starts).

    Examples:

    >>> import os, tempfile
    >>> final = os.path.join(tempfile.mkdtemp(), "run")
    >>> with staged_directory(final) as stage:
    ...     _ = open(os.path.join(stage, "a.txt"), "w").write("x")
    >>> os.listdir(final)
    ['a.txt']
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and os.listdir(path) and not overwrite:
        raise FileExistsError(
            f"The output directory exists and is not empty; pass overwrite "
            f"(`--overwrite`) or choose another. Received: output={path!r}"
        )
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    stage = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.partial-")
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if os.path.exists(path):
        shutil.rmtree(path)
    os.replace(stage, path)
