"""SST-2 experiments: `python -m kwm.recipes.sst2 [--method feature_sharing|baseline]`.

As `kwm.recipes.imdb`, on GLUE's SST-2 sentences: `recipes/sst2_<method>.toml`. Needs a copy of
SST-2: `--data-dir` (or `KWM_DATA_DIR`) pointing at a folder holding `sst2/` (GLUE's
`train.tsv` and `dev.tsv`), or a prepared tfds `glue/sst2`.
"""

import sys

from kwm.recipes import cli

METHODS = ("feature_sharing", "baseline")


def main(argv=None):
    return cli.run("sst2", argv, METHODS)


if __name__ == "__main__":
    sys.exit(main())
