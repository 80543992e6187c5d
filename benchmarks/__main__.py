"""``python -m benchmarks [FOLDER]``: rebuild FOLDER/summary.md (default benchmarks/results)
from the result JSONs there."""

import sys
from pathlib import Path

from benchmarks.common import RESULTS, write_summary

if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    print(write_summary(folder))
