"""Verify a suspect: `python -m kwm.verify --key KEY --suspect MODEL|URL`, the same as `kwm verify`.

Loads the secret key (checking its SHA-256 fingerprint, and the
fingerprint committed to earlier if given), queries the suspect - a
SavedModel directory, a `.keras` file or an `http(s)://` endpoint - on the
key's verification inputs only, and prints and optionally saves the claim.
Exit status: 0 ownership claimed, 1 not claimed, 2 bad input.
"""

import sys

from kwm import cli


def main(argv=None):
    return cli.main(["verify", *(sys.argv[1:] if argv is None else list(argv))])


if __name__ == "__main__":
    sys.exit(main())
