"""MNIST experiments: `python -m kwm.recipes.mnist --method baseline`.

Configurations: `recipes/mnist_<method>.toml`. Without data, the run uses
the real MNIST sample embedded in kwm; point `--data-dir` (or
`KWM_DATA_DIR`) at a folder holding `mnist/` in IDX format for the full
data.
"""

import sys

from kwm.recipes import cli

METHODS = ("baseline", "ewe")


def main(argv=None):
    return cli.run("mnist", argv, METHODS)


if __name__ == "__main__":
    sys.exit(main())
