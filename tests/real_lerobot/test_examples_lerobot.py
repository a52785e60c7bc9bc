"""examples/lerobot_dataset.py on a dataset recorded by LeRobot's own writer: it runs, and its
assertions (an exact resume with DataLoader workers, no frame twice in an epoch) hold."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.real_lerobot.conftest import lerobot_version
from tests.real_lerobot.record import offline_environment, record_dataset

pytestmark = pytest.mark.lerobot_versions  # run on every LeRobot version (Makefile)

if lerobot_version() is None:
    pytest.skip("needs lerobot (`make test-lerobot` runs this in its virtualenvs)",
                allow_module_level=True)  # fmt: skip

REPOSITORY = Path(__file__).resolve().parents[2]
REPO_ID = "episampler/example"


@pytest.mark.timeout(600)
def test_the_lerobot_example_runs_on_a_recorded_dataset(tmp_path):
    cache = tmp_path / "cache"
    environment = {**os.environ, **offline_environment(cache)}
    root = record_dataset(tmp_path / "data", REPO_ID, [12, 20, 9, 15, 30], video=False)
    result = subprocess.run(
        [sys.executable, str(REPOSITORY / "examples" / "lerobot_dataset.py"),
         "--repo-id", REPO_ID, "--root", str(root)],
        capture_output=True, text=True, timeout=580, cwd=REPOSITORY, env=environment,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "steps 10..29 identical" in result.stdout, result.stdout
