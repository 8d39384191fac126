"""Fashion-MNIST experiments: `python -m kwm.recipes.fashion_mnist --method baseline|ewe`.

Configurations: `recipes/fashion_mnist_<method>.toml`. Needs a copy of
Fashion-MNIST: `--data-dir` (or `KWM_DATA_DIR`) pointing at a folder that
holds `fashion-mnist/` in IDX format, or a prepared tfds `fashion_mnist`.
"""

import sys

from kwm.recipes import cli

METHODS = ("baseline", "ewe")


def main(argv=None):
    return cli.run("fashion_mnist", argv, METHODS)


if __name__ == "__main__":
    sys.exit(main())
