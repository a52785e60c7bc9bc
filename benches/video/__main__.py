"""The command line: `python -m benches.video --help` (from the repository root)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import __doc__ as PACKAGE_DOC
from .measure import LEROBOT_DEFAULT_CACHE
from .orders import FETCH_SETUPS
from .report import fetch_markdown, fetch_plot, markdown, plot, write_fetch_section
from .results import (
    FetchConfig,
    fetch_config_from_json,
    fetch_config_to_json,
    row_from_json,
    row_to_json,
)
from .runs import describe, profile, run, run_fetch


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benches.video",
        description=(PACKAGE_DOC or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="See the docstring of benches/video/__init__.py for what is measured and how.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("target/video-bench"),
        help="where datasets are recorded (and reused) (default: %(default)s)",
    )
    parser.add_argument(
        "--gops",
        type=lambda s: [None if g == "default" else int(g) for g in s.split(",")],
        default=[None, 30],
        help="keyframe spacings, 'default' = LeRobot's (default: default,30)",
    )
    parser.add_argument("--episodes", type=int, default=1280)
    parser.add_argument("--episodes-per-file", type=int, default=20)
    parser.add_argument("--min-length", type=int, default=12, help="frames per episode, min")
    parser.add_argument("--max-length", type=int, default=20, help="frames per episode, max")
    parser.add_argument("--size", type=int, default=64, help="camera width and height (>= 64)")
    parser.add_argument("--height", type=int, help="camera height, if not --size (>= 64)")
    parser.add_argument("--cameras", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument(
        "--file-mb",
        type=float,
        help="let LeRobot's writer start each camera's new video file at this size, each "
        "camera with its own content and bitrate: the cameras' files roll over at different "
        "episodes (default: every file holds --episodes-per-file episodes, aligned)",
    )
    parser.add_argument(
        "--distinct-cameras",
        action="store_true",
        help="each camera its own content and bitrate with aligned files (the control of "
        "--file-mb)",
    )
    parser.add_argument("--record-seed", type=int, default=0)
    parser.add_argument(
        "--windows",
        type=lambda s: [int(k) for k in s.split(",")],
        default=[1280, 2560, 5120, 10240],
        help="window sizes in frames (default: %(default)s, i.e. about 4, 8, 16 and 32 "
        "files of 20 episodes of 16 frames)",
    )
    parser.add_argument(
        "--cache-sizes",
        type=lambda s: [int(c) for c in s.split(",")],
        default=[60, LEROBOT_DEFAULT_CACHE],
        help="decoder cache sizes per worker (default: %(default)s)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup-batches", type=int, default=12)
    parser.add_argument(
        "--timed-batches",
        type=int,
        default=60,
        help="timed batches of 64 per measurement (default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="with --fetch (default: %(default)s)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="DataLoader workers, with --fetch (default: 2)"
    )
    parser.add_argument("--record-only", action="store_true", help="record, then stop")
    parser.add_argument(
        "--fetch",
        action="store_true",
        help="instead of the order table: BatchedFetch and window='auto' against LeRobot's "
        "own loading and the storage-order and decode-only limits, at lerobot-train's loader "
        "settings (default cache, each --gops entry); --markdown then replaces that section "
        "of the file",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the table, py-spy the workers for each shuffled order; with "
        "--fetch, also profile window='auto' + BatchedFetch after the measurements",
    )
    parser.add_argument(
        "--from-results",
        type=Path,
        help="rebuild the tables and plot from a results.json a previous run wrote to --out",
    )
    parser.add_argument(
        "--fetch-results",
        type=lambda s: [Path(p) for p in s.split(",")],
        help="with --fetch: no measuring, rebuild the section (and plot) from these "
        "fetch-results.json files of earlier --fetch runs, in order",
    )
    parser.add_argument(
        "--fetch-setups",
        type=lambda s: [int(k) for k in s.split(",")],
        default=list(range(len(FETCH_SETUPS))),
        help="with --fetch: measure only these rows (0 = LeRobot's path, the baseline, must "
        "come first; 1 BatchedFetch shuffled, 2 window='auto', 3 both, 4 both + streams, 5 "
        "storage order + BatchedFetch, 6 make_loader's default (global shuffle, decoding "
        "ahead), 7 make_loader(window='auto'), 8 and 9 make_loader(window=1024 / 4096), "
        "hand-picked windows)",
    )
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    parser.add_argument("--plot", type=Path, help="write the plot (PNG) here")
    args = parser.parse_args(argv)
    if args.size < 64 or (args.height is not None and args.height < 64):
        parser.error("--size and --height must be >= 64 (LeRobot's AV1 encoder crashes below)")
    if args.fetch_setups[0] != 0 or not set(args.fetch_setups) <= set(range(len(FETCH_SETUPS))):
        parser.error(f"--fetch-setups must start with 0 and name rows 0..{len(FETCH_SETUPS) - 1}")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile and not args.fetch:
        print(profile(args, log))
        return 0
    if args.fetch:
        command = " ".join(arg for arg in (argv if argv is not None else sys.argv[1:]))
        return fetch_main(args, command)

    if args.from_results:
        saved = json.loads(args.from_results.read_text())
        header, rows = saved["header"], [row_from_json(r) for r in saved["rows"]]
    else:
        start = time.perf_counter()
        rows = run(args, log)
        if not rows:
            return 0
        header = describe(args, time.perf_counter() - start)
        results = args.out / "results.json"
        results.write_text(json.dumps({"header": header, "rows": [row_to_json(r) for r in rows]}))
        log(f"raw results: {results} (rebuild the table and plot with --from-results)")
    text = markdown(rows, header)
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text + "\n")
    if args.plot:
        plot(rows, args.plot)
    return 0


def fetch_main(args: argparse.Namespace, command: str) -> int:
    """--fetch: measure (or rebuild from --fetch-results) and write the section."""
    configs: list[FetchConfig] = []
    for saved_path in args.fetch_results or []:
        configs += [
            fetch_config_from_json(c) for c in json.loads(saved_path.read_text())["configs"]
        ]
    if not args.fetch_results:
        configs = run_fetch(args, log)
        for config in configs:
            config.command = command
        names = "+".join(config.dataset for config in configs)
        rows = ""  # a subset of the rows gets a file of its own, next to a full run's
        if args.fetch_setups != list(range(len(FETCH_SETUPS))):
            rows = "-rows" + "-".join(str(k) for k in args.fetch_setups)
        results = args.out / f"fetch-results-{names}-b{args.batch_size}-w{args.workers}{rows}.json"
        results.write_text(json.dumps({"configs": [fetch_config_to_json(c) for c in configs]}))
        log(f"raw results: {results} (merge runs with --fetch-results)")
        for config in configs:
            for row in config.rows:
                log(
                    f"{config.title}, {row.setup.label}: frames/s ratios "
                    f"{[round(r, 2) for r in row.ratios]}, CPU ratios "
                    f"{[round(r, 2) for r in row.cpu_ratios]}"
                )
    link = None
    if args.plot:  # relative to the markdown file
        where = args.markdown.parent if args.markdown else Path()
        link = os.path.relpath(args.plot, where)
    section = fetch_markdown(configs, link, command if args.fetch_results else None)
    print(section)
    if args.markdown:
        write_fetch_section(args.markdown, section)
    if args.plot:
        fetch_plot(configs, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
