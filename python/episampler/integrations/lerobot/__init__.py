"""`episampler.lerobot` under its earlier name: the training integration (`install`, `main`,
`BatchedFetch`, `EpisodeStream`, `make_loader`, `TESTED_LEROBOT_VERSIONS`), and its modules
`fetch`, `datasets`, `_options` and `_versions`, which are `episampler.lerobot`'s own module
objects (so a patch applies to both)."""

from __future__ import annotations

from episampler.lerobot import (
    TESTED_LEROBOT_VERSIONS,
    BatchedFetch,
    EpisodeStream,
    install,
    main,
    make_loader,
)

__all__ = [
    "TESTED_LEROBOT_VERSIONS",
    "BatchedFetch",
    "EpisodeStream",
    "install",
    "main",
    "make_loader",
]
