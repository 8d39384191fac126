"""MNIST experiments: `python -m kwm.recipes.mnist --method baseline|ewe|feature_sharing [--ood]`.

Configurations: `recipes/mnist_<method>.toml` (in-distribution watermarks) and
`recipes/mnist_<method>_ood.toml` (`--ood`: Fashion-MNIST images as watermarks). Without data, the run uses
the real MNIST sample embedded in kwm; point `--data-dir` (or
`KWM_DATA_DIR`) at a folder holding `mnist/` in IDX format for the full
data.
"""

import sys

from kwm.recipes import cli

METHODS = ("baseline", "ewe", "feature_sharing")


def main(argv=None):
    return cli.run("mnist", argv, METHODS)


if __name__ == "__main__":
    sys.exit(main())
