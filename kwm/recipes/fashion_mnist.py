"""Fashion-MNIST experiments: `python -m kwm.recipes.fashion_mnist [--method ewe|baseline]`.

Configurations: `recipes/fashion_mnist_<method>.toml`. Point `--data-dir` (or
`KWM_DATA_DIR`) at a folder that holds `fashion-mnist/` in IDX format, or use a
prepared tfds `fashion_mnist`; without either, the run uses the real
Fashion-MNIST sample embedded in kwm (2,000 training and 2,000 test images).
"""

import sys

from kwm.recipes import cli

METHODS = ("ewe", "baseline")


def main(argv=None):
    return cli.run("fashion_mnist", argv, METHODS)


if __name__ == "__main__":
    sys.exit(main())
