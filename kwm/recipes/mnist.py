"""MNIST experiments: `python -m kwm.recipes.mnist [--method feature_sharing|baseline|ewe] [--ood]`.

With no `--method`, `--ood` or `--config`, the main recipe `recipes/mnist.toml`
runs: feature sharing with out-of-distribution watermarks, the API answering at
temperature 4, sized for a first run on a CPU. Configurations of the papers'
experiments: `recipes/mnist_<method>.toml` (in-distribution watermarks) and
`recipes/mnist_<method>_ood.toml` (`--ood`: Fashion-MNIST images as
watermarks). Without data, the run uses the real MNIST and Fashion-MNIST
samples embedded in kwm; point `--data-dir` (or `KWM_DATA_DIR`) at a folder
holding `mnist/` and `fashion-mnist/` in IDX format for the full data.
"""

import sys

from kwm.recipes import cli

METHODS = ("feature_sharing", "baseline", "ewe")


def main(argv=None):
    return cli.run("mnist", argv, METHODS)


if __name__ == "__main__":
    sys.exit(main())
