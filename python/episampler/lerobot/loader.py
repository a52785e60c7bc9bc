"""`make_loader`: the fastest exact loader episampler knows for a LeRobot v3 dataset, in one call,
with lerobot-train's worker settings as defaults."""

from __future__ import annotations

import logging
from typing import Any

from episampler._inputs import as_bool, as_int

logger = logging.getLogger(__name__)

# lerobot-train's DataLoader (0.6.1 and 0.6.2) with workers: spawned, 4 batches ahead each,
# kept between epochs.
LEROBOT_TRAIN_WORKER_SETTINGS: dict[str, Any] = {
    "multiprocessing_context": "spawn",
    "prefetch_factor": 4,
    "persistent_workers": True,
}


def make_loader(
    dataset: Any,
    *,
    batch_size: int,
    num_workers: int,
    shuffle: bool = True,
    seed: int = 0,
    window: int | str | None = None,
    read_ahead_bytes: int | None = None,
    **dataloader_kwargs: Any,
) -> Any:
    """A `torch.utils.data.DataLoader` over a LeRobot dataset with episampler's fastest exact
    loading.

    - `window=None` (the default): LeRobot's distribution, the global shuffle of
      `EpisodeAwareSampler.from_lerobot(dataset, shuffle=shuffle, seed=seed)`, made fast by the
      batched fetch (`BatchedFetch`: a batch's frames decoded per video file). Nothing about
      what the model sees changes.
    - `window="auto"` or a number of frames: the read-local (windowed) order grouped by video
      file, with one stream of windows per worker (`stream_settings`): an explicit trade of
      mixing for speed; `python -m episampler.inspect` reports its mixing next to the global
      shuffle's.

    Either way each worker decodes ahead: the frames of its next batches, read off the
    sampler's order, are decoded with the current batch's, one call per camera and video file,
    into a buffer of at most `read_ahead_bytes` per worker (`BatchedFetch(read_ahead=...)`).

    The batches equal those of `DataLoader(dataset, batch_size=batch_size,
    sampler=loader.sampler)` over LeRobot's own `dataset[i]` (same indices, equal tensors, the
    same collate), every kept frame once per epoch, and `resume_from_step(loader, step)` works
    as for any loader. Where the batched fetch does not support the dataset (a LeRobot version
    it was not tested with, a v2.x dataset) the dataset is read item by item, and the reason
    is logged.

    Args:
        dataset: a `LeRobotDataset` (v3 for a window; v2.x reads the global order).
        batch_size: samples per batch, >= 1.
        num_workers: DataLoader worker processes, >= 0. With workers the loader is set up as
            lerobot-train's: `multiprocessing_context="spawn"`, `prefetch_factor=4`,
            `persistent_workers=True`, unless `dataloader_kwargs` say otherwise.
        shuffle: shuffle (True) or boundary order (False).
        seed: the order's seed, in `[0, 2**64)`.
        window: None, `"auto"` or frames per window (`EpisodeAwareSampler.from_lerobot`).
        read_ahead_bytes: decoded frames a worker holds ahead, >= 0; None: 512 MiB
            (`read_ahead.DEFAULT_READ_AHEAD_BYTES`); 0: each batch decoded on its own.
        **dataloader_kwargs: passed on to the DataLoader (`drop_last`, `pin_memory`, ...);
            `sampler`, `batch_sampler` and `shuffle` are the loader's own.

    Returns:
        The DataLoader; `loader.sampler` is its `EpisodeAwareSampler`.

    Raises:
        TypeError, ValueError: bad arguments, named.
    """
    from torch.utils.data import DataLoader

    from episampler._sampler import EpisodeAwareSampler, stream_settings

    batch_size = as_int("batch_size", batch_size, low=1, high=2**63)
    num_workers = as_int("num_workers", num_workers, high=2**31)
    shuffle = as_bool("shuffle", shuffle)
    owned = sorted({"sampler", "batch_sampler", "shuffle", "dataset"} & set(dataloader_kwargs))
    if owned:
        raise TypeError(f"make_loader sets {', '.join(owned)} itself; got {owned[0]}=")
    if window is None:
        settings: dict[str, Any] = {}
    elif window == "auto":
        from episampler.lerobot.auto_window import auto_settings

        chosen = auto_settings(dataset, num_workers=num_workers, batch_size=batch_size)
        settings = {key: value for key, value in chosen.items() if value is not None}
    elif isinstance(window, str):
        raise ValueError(f"window must be an int >= 1, None or 'auto', got {window!r}")
    else:
        window = as_int("window", window, low=1, high=2**63)
        has_video = bool(getattr(getattr(dataset, "meta", None), "video_keys", None))
        settings = {"window": window, "group_by": "video_file" if has_video else "data_file"}
        if num_workers > 0:
            settings.update(stream_settings(num_workers, batch_size))
    sampler = EpisodeAwareSampler.from_lerobot(dataset, shuffle=shuffle, seed=seed, **settings)
    options = dict(LEROBOT_TRAIN_WORKER_SETTINGS) if num_workers > 0 else {}
    options.update(dataloader_kwargs)
    if read_ahead_bytes is None:
        from episampler.lerobot.read_ahead import DEFAULT_READ_AHEAD_BYTES

        read_ahead_bytes = DEFAULT_READ_AHEAD_BYTES
    read_ahead_bytes = as_int("read_ahead_bytes", read_ahead_bytes, high=2**62)
    return DataLoader(
        _fastest_reader(dataset, sampler, read_ahead_bytes),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        **options,
    )


def _fastest_reader(dataset: Any, sampler: Any, read_ahead_bytes: int) -> Any:
    """`BatchedFetch(dataset)`, decoding ahead of `sampler`'s order, where it supports the
    dataset, else the dataset itself."""
    from episampler.lerobot.fetch import BatchedFetch

    try:
        if read_ahead_bytes == 0:
            return BatchedFetch(dataset)
        return BatchedFetch(dataset, read_ahead=sampler, read_ahead_bytes=read_ahead_bytes)
    except (RuntimeError, TypeError) as error:
        # A version it was not tested with, or a dataset it does not read (v2.x).
        logger.info("make_loader: reading items one by one, without the batched fetch: %s", error)
        return dataset
