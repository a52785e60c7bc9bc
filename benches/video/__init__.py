"""Video-loading throughput of sampler orders on LeRobot v3 datasets recorded here.

What it measures
----------------
Training on video datasets is bound by decoding, and the sampler's read order decides how many
video files (torchcodec decoders) each DataLoader worker opens. This benchmark records, with
LeRobot's own writer (the tests' recorder, `tests/real_lerobot/record.py`), one v3 dataset per
keyframe spacing (LeRobot's default GOP, `g=2` in 0.6.1, and `g=30`) with 3 textured, moving
64x64 cameras whose video files each hold `--episodes-per-file` episodes, then loads each with
`LeRobotDataset` and its default decoder (torchcodec through LeRobot's per-worker
`VideoDecoderCache`) and measures, for every order,

- DataLoader frames/s: 2 workers, batches of 64, a fresh DataLoader per measurement, a warm-up
  (which also absorbs the worker start-up), then a fixed number of timed samples; each repeat
  starts every order at the same random point of the epoch (the sampler resumes there), so the
  timed samples cross window boundaries as often as a whole epoch does; the orders are
  interleaved (rotated) within each repeat and the table shows medians and the median of the
  per-repeat ratios to the global "uniform" shuffle, so machine noise cancels as far as it can;
- decoder opens per 1,000 samples per worker: real `torchcodec.decoders.VideoDecoder`
  creations, counted in each worker (a `worker_init_fn` wraps the class LeRobot's cache looks up
  on every miss) and returned alongside the items, over the timed samples only (mean over the
  repeats: a window boundary falls in some timed spans and not in others); next to it, the
  whole-epoch figure and the cache size the order needs from `episampler.inspect.io_report`'s
  simulation of the same caches;
- distinct episodes per batch of 64: from the sampler's order over a whole epoch.

The recommended window (per dataset and cache) is the largest tested window whose decoders fit
the cache (io_report's needed cache size <= the cache) and whose batches hold >= 0.9x the global
shuffle's distinct episodes; the table checks it against the targets (frames/s, decoder opens
and distinct episodes against the global shuffle). `--profile` instead samples the DataLoader
workers with py-spy (all threads, idle included) under the global shuffle and each window, and
prints where their time goes.

Orders: boundary order (`shuffle=False`), the global "uniform" shuffle, and the windowed
shuffle grouped by video file, `EpisodeAwareSampler.from_lerobot(dataset, shuffle=True,
window=k, group_by="video_file")`, for several window sizes.

Scale: LeRobot keeps one LRU of `LEROBOT_VIDEO_DECODER_CACHE_SIZE` decoders (default 100) per
worker process, shared by the cameras. A real dataset has hundreds or thousands of files per
camera, so a global shuffle misses that cache almost always; recording that many files here
would take hours, so the recorded datasets hold fewer files and `--cache-sizes` sets smaller
caches too (applied in each worker exactly as the environment variable would be), keeping the
ratio of cached decoders to files closer to a large dataset's. The default cache (100) is
measured as well. Every table says which cache it used.

How files get many episodes: LeRobot 0.6.1's writer appends an episode's video to the camera's
latest file unless `latest size + episode size >= video_files_size_in_mb`, in which case it
starts a new file. The recorder sets that limit with the public
`dataset.meta.update_chunk_settings(video_files_size_in_mb=...)` before each `save_episode`:
very large to append, very small to start a new file, so every camera's files hold exactly
`--episodes-per-file` episodes and the cameras' files line up. The keyframe spacing is the
`g` of the `RGBEncoderConfig` passed as `rgb_encoder=` to `LeRobotDataset.create`.

`--fetch` instead compares, on each `--gops` dataset and at LeRobot's default decoder cache
(100 per worker, not emulated), LeRobot's own path (`dataset[i]` under torch's `RandomSampler`,
what LeRobot's `shuffle=True` uses) with `episampler.lerobot.BatchedFetch` under the
same shuffle, with `window="auto"` alone, with both, and with both plus one stream of windows
per DataLoader worker (`stream_settings(2, 64)`): frames/s and its per-repeat ratio to
LeRobot's path, the DataLoader workers' CPU time per sample (process time of all their threads,
the figure other jobs on the machine move least), calls of LeRobot's decoding function and
decoder opens per 1,000 samples, the workers' peak resident set (VmHWM), distinct episodes and
files per batch. `--markdown FILE` then replaces that section of FILE (or appends it), `--plot`
draws it; `--fetch --fetch-results A.json,B.json` rebuilds both from earlier runs' saved results
(e.g. one run per resolution).

Run from the repository root (LeRobot 0.6 virtualenv; `pip install matplotlib` for the plot,
`py-spy` for `--profile`), e.g.

    .venv-lerobot-0.6/bin/python -m benches.video --out target/video-bench \\
        --markdown benches/results_video.md --plot docs/video_loading.png

(`python benches/lerobot_video.py ...` runs the same.) Recorded datasets are kept in `--out`
and reused while their parameters are unchanged.

Modules
-------
- `recording`: the recorded datasets (`Recording`, camera content, the writer's file limits).
- `orders`: the compared samplers and the order statistics (distinct episodes per batch, files
  per window, io_report's simulated decoder opens).
- `measure`: one DataLoader measurement and its worker-side counters.
- `profiling`: py-spy and the buckets its stacks are summarized into.
- `runs`: the measurement runs (the order table, `--profile`, `--fetch`).
- `results`: the measured rows and their JSON form (`results.json`, `fetch-results.json`).
- `report`: markdown tables, plots and the results file's `--fetch` section.
- `__main__`: the command line.
"""

from __future__ import annotations

import os

from tests.real_lerobot.record import offline_environment

# Set before anything imports LeRobot or the Hugging Face libraries (they read it at import).
for _name, _value in offline_environment().items():
    os.environ.setdefault(_name, _value)
