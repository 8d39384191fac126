"""CIFAR-10 experiments: `python -m kwm.recipes.cifar10 --method feature_sharing|baseline`.

Configurations: `recipes/cifar10_<method>.toml`, CPU-sized by default
(ResNet-8); `--full` selects the recipe's GPU-sized configuration (ResNet-18).
Needs a copy of CIFAR-10: `--data-dir` (or `KWM_DATA_DIR`) pointing at a
folder holding `cifar10-jpeg/` or `cifar10/` (class-folder images, a
`.tar.gz` of them, or the python release), or a prepared tfds `cifar10`.
"""

import sys

from kwm.recipes import cli

METHODS = ("feature_sharing", "baseline")


def main(argv=None):
    return cli.run("cifar10", argv, METHODS)


if __name__ == "__main__":
    sys.exit(main())
