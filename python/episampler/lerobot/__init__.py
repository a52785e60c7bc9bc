"""Everything in episampler that knows LeRobot, in one package.

- `layout`: episode boundaries and file groups read off a LeRobot dataset (v3 and v2.1), by duck
  typing; the one test of the dataset format (`v3_table`).
- `versions`: the LeRobot versions the integration is tested with, and what differs between
  them, as data (`PROFILES`, `TESTED_LEROBOT_VERSIONS`).
- `auto_window`: `window="auto"`, one function for every entry point.
- `fetch`: `BatchedFetch`, a batch's items decoded per file.
- `read_ahead`: the rows a DataLoader worker is asked for next, read off the sampler's order
  (what `BatchedFetch(read_ahead=...)` decodes ahead).
- `loader`: `make_loader`, the fastest exact DataLoader in one call.
- `stream`: `EpisodeStream`, a dataset read as an exactly resumable stream from a URL.
- `options`, `datasets`, `train`: `episampler-lerobot-train` (LeRobot's `lerobot-train` with
  episampler's sampler, its `--episampler.*` options and several datasets).

`episampler.integrations.lerobot` is the same package under its earlier name.
"""

from __future__ import annotations

from episampler.lerobot.fetch import BatchedFetch
from episampler.lerobot.loader import make_loader
from episampler.lerobot.stream import EpisodeStream
from episampler.lerobot.train import install, main
from episampler.lerobot.versions import TESTED_LEROBOT_VERSIONS

__all__ = [
    "TESTED_LEROBOT_VERSIONS",
    "BatchedFetch",
    "EpisodeStream",
    "install",
    "main",
    "make_loader",
]
