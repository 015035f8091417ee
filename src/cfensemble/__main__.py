"""``python -m cfensemble``: the same command as the ``cfensemble`` console script."""

import sys

from cfensemble.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
