"""What differs between the LeRobot versions the training integration supports, as data.

Both versions import `EpisodeAwareSampler`, `compute_sampler_state`, `cycle`,
`make_train_eval_datasets` and `save_checkpoint` by name into `lerobot.scripts.lerobot_train`;
the integration replaces or wraps those names the same way on both. What differs:

| | 0.6.1 | 0.6.2 (main, PR #4010) |
|---|---|---|
| sampler built in | `train` | `make_dataloaders(..., step, parallel_dims)` |
| loop `step` counts | batches (one per update) | micro-batches (gradient accumulation) |
| resume offset | `compute_sampler_state(step, n, batch, processes)` | the same, dp size |
| data-parallel size | the process count | `parallel_dims.dp_world_size` |
| `save_checkpoint` runs on | the main process | every rank (rank 0 writes files) |

Either way `step` counts batches per data-parallel rank, which is what episampler's
`compute_sampler_state` takes with its defaults (`gradient_accumulation_steps=1`).

Versions policy: a version in `PROFILES` runs. An untested release of a tested series (0.6.x)
runs with a warning when every name the integration patches exists with the parameters it
relies on (checked with `inspect`). Any other version is refused, unless
`EPISAMPLER_LEROBOT_UNTESTED=1` is set and the same checks pass (a loud warning is logged).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import inspect
import os
from types import ModuleType

UNTESTED_ENV = "EPISAMPLER_LEROBOT_UNTESTED"


@dataclasses.dataclass(frozen=True)
class Profile:
    """How one LeRobot version's `lerobot_train` module is patched."""

    version: str
    # name in lerobot_train -> parameters it must accept (empty: only that it exists)
    names: dict[str, tuple[str, ...]]
    # the function whose `parallel_dims` argument gives the data-parallel size (None: the
    # process count of the default process group)
    dp_size_from: str | None


_COMMON = {
    "EpisodeAwareSampler": (),
    "compute_sampler_state": (),
    "cycle": (),
    "make_train_eval_datasets": ("cfg",),
    "save_checkpoint": ("checkpoint_dir", "step", "cfg"),
}

PROFILES = {
    "0.6.1": Profile("0.6.1", dict(_COMMON), dp_size_from=None),
    "0.6.2": Profile(
        "0.6.2",
        {
            **_COMMON,
            "make_dataloaders": ("cfg", "dataset", "step", "parallel_dims"),
        },
        dp_size_from="make_dataloaders",
    ),
}
TESTED_LEROBOT_VERSIONS = tuple(PROFILES)


def installed_version() -> str | None:
    """The installed LeRobot's version, or None when LeRobot is not installed."""
    try:
        return importlib.metadata.version("lerobot")
    except importlib.metadata.PackageNotFoundError:
        return None


def mismatches(profile: Profile, module: ModuleType) -> list[str]:
    """What `module` lacks of what `profile` patches (empty: it checks out)."""
    problems = []
    for name, parameters in profile.names.items():
        target = getattr(module, name, None)
        if target is None:
            problems.append(f"lerobot_train.{name} is missing")
            continue
        if not parameters:
            continue
        try:
            have = inspect.signature(target).parameters
        except (TypeError, ValueError):
            problems.append(f"lerobot_train.{name} has no readable signature")
            continue
        lacking = [p for p in parameters if p not in have]
        if lacking:
            problems.append(f"lerobot_train.{name} takes no {', '.join(lacking)}")
    return problems


def _series(version: str) -> str:
    return ".".join(version.split(".")[:2])


def choose(version: str, module: ModuleType) -> tuple[Profile, str | None]:
    """The profile for LeRobot `version` (whose training script is `module`), and a warning to
    log (None for a tested version).

    Raises:
        RuntimeError: the version is refused (see the module docstring for the policy).
    """
    if version in PROFILES:
        profile = PROFILES[version]
        problems = mismatches(profile, module)
        if problems:  # an edited install of a tested version
            raise RuntimeError(
                f"lerobot {version}'s training script is not the released one: "
                + "; ".join(problems)
            )
        return profile, None
    checked = [(p, mismatches(p, module)) for p in reversed(PROFILES.values())]
    fits = [p for p, problems in checked if not problems]
    tested_series = {_series(v) for v in PROFILES}
    override = os.environ.get(UNTESTED_ENV) == "1"
    tested = ", ".join(TESTED_LEROBOT_VERSIONS)
    if fits and (_series(version) in tested_series or override):
        how = "a release of a tested series" if not override else f"{UNTESTED_ENV}=1 is set"
        return fits[0], (
            f"episampler's lerobot-train integration was tested with lerobot {tested}, not "
            f"{version}; it runs because {how} and the training script's names check out "
            f"(patched as {fits[0].version}). Check that resumed runs continue exactly."
        )
    if not fits:
        reasons = "; ".join(f"as {p.version}: {', '.join(problems)}" for p, problems in checked)
        raise RuntimeError(
            f"episampler's lerobot-train integration supports lerobot {tested}, not {version}, "
            f"whose training script differs ({reasons}). Install a supported version, or use "
            "EpisodeAwareSampler and episampler.integrations.accelerate in your own loop."
        )
    raise RuntimeError(
        f"episampler's lerobot-train integration was tested with lerobot {tested}, not "
        f"{version}. Its training script's names check out; set {UNTESTED_ENV}=1 to run "
        "anyway (check that a resumed run continues exactly), or install a tested version."
    )
