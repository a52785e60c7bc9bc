"""Tests against the real `lerobot` package and datasets recorded by its own writer.

They run in the virtualenvs `make lerobot-envs` builds (see `.ci/lerobot-envs`): LeRobot 0.6.x
(dataset format v3, Python 3.12) and LeRobot 0.3.x (v2.1, Python 3.11). Elsewhere they skip with
the reason. `EPISAMPLER_EXPECT_LEROBOT=0.6` (or `0.3`) turns a skip of that series' tests into a
failure: CI sets it for each virtualenv, so tests that were expected cannot silently not run.
"""

from __future__ import annotations

import importlib.metadata
import os

import pytest


def lerobot_version() -> str | None:
    try:
        return importlib.metadata.version("lerobot")
    except importlib.metadata.PackageNotFoundError:
        return None


def require_lerobot(series: str) -> str:
    """Skip the calling module unless LeRobot `series` (e.g. "0.6") is installed; fail instead
    when that series was expected here. Returns the installed version."""
    version = lerobot_version()
    if version is not None and version.startswith(series + "."):
        return version
    found = "not installed" if version is None else f"{version} is installed"
    reason = (
        f"needs lerobot {series}.x ({found}); `make test-lerobot` runs these in "
        f".venv-lerobot-{series}"
    )
    if os.environ.get("EPISAMPLER_EXPECT_LEROBOT") == series:
        pytest.fail(f"lerobot {series}.x was expected here: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)
    raise AssertionError("unreachable")
