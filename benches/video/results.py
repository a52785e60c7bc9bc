"""The measured rows (per-repeat figures) and their JSON form: `results.json` (the order table)
and `fetch-results.json` (the --fetch comparison), which --from-results and --fetch-results
rebuild the reports from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .orders import FetchSetup, Order

# --- The order table -------------------------------------------------------------------------


@dataclass
class Row:
    dataset: str
    cache_size: int
    order: Order
    frames_per_s: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # to the global shuffle, same repeat
    opens: list[float] = field(default_factory=list)
    distinct: list[float] = field(default_factory=list)
    files: list[float] = field(default_factory=list)
    simulated_opens: list[float] = field(default_factory=list)
    needed_cache: list[float] = field(default_factory=list)


ROW_LISTS = (
    "frames_per_s",
    "ratios",
    "opens",
    "distinct",
    "files",
    "simulated_opens",
    "needed_cache",
)


def row_to_json(row: Row) -> dict[str, Any]:
    order = {"label": row.order.label, "window": row.order.window, "shuffle": row.order.shuffle}
    return {
        "dataset": row.dataset,
        "cache": row.cache_size,
        "order": order,
        **{name: getattr(row, name) for name in ROW_LISTS},
    }


def row_from_json(saved: dict[str, Any]) -> Row:
    # Results written before the numpy emulation was removed carry "emulated": false.
    order = {k: v for k, v in saved["order"].items() if k != "emulated"}
    row = Row(saved["dataset"], saved["cache"], Order(**order))
    for name in ROW_LISTS:
        setattr(row, name, nan_for_none(saved[name]))
    return row


def nan_for_none(values: list[float | None]) -> list[float]:
    """A saved list of figures, with null (a figure missing) read as NaN."""
    return [float("nan") if v is None else v for v in values]


# --- The --fetch comparison ------------------------------------------------------------------


@dataclass
class FetchRow:
    setup: FetchSetup
    frames_per_s: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)  # to the baseline, same repeat
    calls: list[float] = field(default_factory=list)
    opens: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)  # to the baseline, same repeat
    rss_mb: list[float] = field(default_factory=list)  # largest worker's peak RSS
    rss_ratios: list[float] = field(default_factory=list)  # to the baseline, same repeat
    episodes: list[float] = field(default_factory=list)
    files: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)  # 1-minute load average before each


@dataclass
class FetchConfig:
    """The rows measured on one recorded dataset."""

    dataset: str  # "gop-default" or "gop-30"
    size: int
    header: str
    reason: str
    command: str
    rows: list[FetchRow]
    profile: str = ""  # --profile: where the workers' time goes under window="auto" + fetch
    # The decode-only limit, samples/s per repeat (`measure.decode_only`)
    decode_only_fps: list[float] = field(default_factory=list)
    title_text: str = ""
    # What the targets depend on, kept as fields (not read back out of the title).
    batch_size: int = 64
    height: int = 0  # 0: `size`
    gop: int | None = None  # keyframe spacing; None: LeRobot's default (every 2)

    @property
    def title(self) -> str:
        if self.title_text:
            return self.title_text
        spacing = "2 (LeRobot's default)" if self.dataset == "gop-default" else "30"
        return f"{self.size}x{self.size}, keyframe spacing {spacing}"

    @property
    def decode_only_ratios(self) -> list[float]:
        """The decode-only limit over LeRobot's path (the first row), per repeat."""
        return [
            fps / base
            for fps, base in zip(self.decode_only_fps, self.rows[0].frames_per_s, strict=False)
        ]


def fetch_config_to_json(config: FetchConfig) -> dict[str, Any]:
    return {
        **{k: v for k, v in config.__dict__.items() if k != "rows"},
        "rows": [
            {"setup": row.setup.__dict__, **{k: v for k, v in row.__dict__.items() if k != "setup"}}
            for row in config.rows
        ],
    }


def fetch_config_from_json(saved: dict[str, Any]) -> FetchConfig:
    rows = []
    for entry in saved["rows"]:
        row = FetchRow(FetchSetup(**entry["setup"]))
        for name, value in entry.items():
            if name != "setup":
                setattr(row, name, nan_for_none(value))
        rows.append(row)
    return FetchConfig(**{**saved, "rows": rows})
