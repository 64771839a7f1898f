"""``python -m controller_manager``: the same entry point as the console script."""

import sys

from controller_manager.cli import main

if __name__ == "__main__":
    sys.exit(main())
