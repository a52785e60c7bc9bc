"""Train with LeRobot's own entry point (`lerobot-train`) using episampler, with exact resume.

One step. Instead of `lerobot-train ARGS`, run

    episampler-lerobot-train ARGS            # or: python -m episampler.integrations.lerobot ARGS

with the same arguments (and `accelerate launch -m episampler.integrations.lerobot ARGS` for
several processes). Resume as usual with `--resume=true --config_path=...`. From Python, call
`install()` once before LeRobot's `train(cfg)`.

What `install()` changes in `lerobot.scripts.lerobot_train`, and nothing else:

- its `EpisodeAwareSampler` becomes episampler's (same arguments; the order is episampler's, a
  pure function of the seed and the epoch; `permutation` as given to `install`);
- its `compute_sampler_state` becomes episampler's (the same answers on LeRobot's arguments);
- the loop's `cycle(dataloader)` first aligns the dataloader prepared by accelerate with the
  sampler's resume point (`episampler.integrations.accelerate.align_with_sampler`). LeRobot
  alone loses that point: accelerate calls `sampler.set_epoch(0)` when a resumed run first
  iterates, so a run resumed after its first epoch replays epoch 0's order from the saved
  offset, and with several processes accelerate pads the resumed epoch with the wrong batches.

Only the LeRobot versions this was tested with are accepted (`TESTED_LEROBOT_VERSIONS`).
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from episampler._sampler import PERMUTATIONS, EpisodeAwareSampler
from episampler._state import compute_sampler_state
from episampler.integrations.accelerate import align_with_sampler

__all__ = ["TESTED_LEROBOT_VERSIONS", "install", "main"]

TESTED_LEROBOT_VERSIONS = ("0.6.1",)
_OPTION_PREFIX = "--episampler.permutation="


def _lerobot_version() -> str:
    try:
        return importlib.metadata.version("lerobot")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            "episampler.integrations.lerobot needs LeRobot: "
            f"pip install 'lerobot[dataset,training]=={TESTED_LEROBOT_VERSIONS[-1]}'"
        ) from None


def install(*, permutation: str = "uniform") -> None:
    """Make `lerobot.scripts.lerobot_train` sample with episampler and resume exactly.

    Safe to call more than once (the second call changes nothing; another `permutation` than
    the first call's is a `ValueError`).

    Raises:
        RuntimeError: LeRobot is missing, or its version is not in `TESTED_LEROBOT_VERSIONS`.
        ValueError: `permutation` is unknown, or differs from an earlier call's.
    """
    if permutation not in PERMUTATIONS:
        raise ValueError(f"permutation must be one of {PERMUTATIONS}, got {permutation!r}")
    version = _lerobot_version()
    if version not in TESTED_LEROBOT_VERSIONS:
        raise RuntimeError(
            f"episampler.integrations.lerobot was tested with lerobot "
            f"{', '.join(TESTED_LEROBOT_VERSIONS)}, not {version}: its training script may build "
            "the sampler or resume differently. Install a tested version, or use "
            "EpisodeAwareSampler and integrations.accelerate in your own loop."
        )
    from lerobot.scripts import lerobot_train

    installed = getattr(lerobot_train, "_episampler_permutation", None)
    if installed is not None:
        if installed != permutation:
            raise ValueError(
                f"episampler is already installed with permutation={installed!r}, "
                f"not {permutation!r}"
            )
        return
    lerobot_train.EpisodeAwareSampler = _sampler_factory(permutation)
    lerobot_train.compute_sampler_state = compute_sampler_state
    lerobot_train.cycle = _aligned_cycle(lerobot_train.cycle)
    lerobot_train._episampler_permutation = permutation


def _sampler_factory(permutation: str) -> Callable[..., EpisodeAwareSampler]:
    def episode_aware_sampler(*args: Any, **kwargs: Any) -> EpisodeAwareSampler:
        return EpisodeAwareSampler(*args, permutation=permutation, **kwargs)

    return episode_aware_sampler


def _aligned_cycle(cycle: Callable[[Any], Iterator[Any]]) -> Callable[[Any], Iterator[Any]]:
    def aligned_cycle(dataloader: Any) -> Iterator[Any]:
        # LeRobot calls cycle(dataloader) once, right after accelerator.prepare, when the
        # sampler already holds the resume point it loaded.
        if _draws_from_ours(dataloader):
            align_with_sampler(dataloader)
        return cycle(dataloader)

    return aligned_cycle


def _draws_from_ours(dataloader: Any) -> bool:
    batch_sampler = getattr(dataloader, "batch_sampler", None)
    inner = getattr(batch_sampler, "batch_sampler", batch_sampler)  # under a BatchSamplerShard
    return hasattr(dataloader, "iteration") and isinstance(
        getattr(inner, "sampler", None), EpisodeAwareSampler
    )


def main(argv: Sequence[str] | None = None) -> None:
    """`lerobot-train` with episampler: the same arguments, plus an optional
    `--episampler.permutation=uniform|feistel`."""
    args = list(sys.argv[1:] if argv is None else argv)
    permutation = "uniform"
    for arg in [a for a in args if a.startswith(_OPTION_PREFIX)]:
        permutation = arg[len(_OPTION_PREFIX) :]
        args.remove(arg)
    install(permutation=permutation)
    from lerobot.scripts import lerobot_train

    sys.argv = [sys.argv[0], *args]  # LeRobot parses sys.argv itself
    lerobot_train.main()


