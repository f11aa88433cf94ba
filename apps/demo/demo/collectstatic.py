"""Copy demo/static/ into STATIC_ROOT (what Nginx serves)."""

import os
import shutil
import sys
from pathlib import Path


def main():
    target = Path(os.environ["STATIC_ROOT"])
    shutil.copytree(Path(__file__).parent / "static", target, dirs_exist_ok=True)
    print(f"collected into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
