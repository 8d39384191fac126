"""CIFAR-100 experiments: `python -m kwm.recipes.cifar100 --method feature_sharing`.

Configuration: `recipes/cifar100_feature_sharing.toml`. Needs a copy of
CIFAR-100: `--data-dir` (or `KWM_DATA_DIR`) pointing at a folder holding
`cifar100/` (the python release `cifar-100-python/`), or a prepared tfds
`cifar100`. Offline machines have none; the run then stops with a message
naming where kwm looked (use `kwm.recipes.cifar10`, the offline stand-in).
"""

import sys

from kwm.recipes import cli

METHODS = ("feature_sharing",)


def main(argv=None):
    return cli.run("cifar100", argv, METHODS)


if __name__ == "__main__":
    sys.exit(main())
