"""The video benchmark, kept runnable here for old commands: it lives in benches/video/."""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root
    from benches.video.__main__ import main

    raise SystemExit(main())
