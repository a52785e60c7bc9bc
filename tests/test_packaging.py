"""What the packaging declares is true: the minimum Rust version covers every locked dependency
(so `cargo` on that version can build and test the workspace), and the version the built
extension reports is this checkout's."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import episampler

REPOSITORY = Path(__file__).resolve().parent.parent


def _version(text: str) -> tuple[int, int, int]:
    major, minor, *patch = (int(part) for part in text.split("."))
    return major, minor, patch[0] if patch else 0


def _metadata() -> dict:
    if shutil.which("cargo") is None:
        pytest.skip("needs cargo")
    result = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--offline"],
        cwd=REPOSITORY, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    if result.returncode != 0 and "offline" in result.stderr:
        pytest.skip("the locked crates are not downloaded yet (`cargo fetch`)")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_declared_minimum_rust_covers_every_locked_dependency():
    packages = _metadata()["packages"]
    ours = {p["name"]: p["rust_version"] for p in packages if p["source"] is None}
    assert set(ours) == {"episampler-core", "episampler-bench", "episampler-python"}
    assert len(set(ours.values())) == 1, ours  # one workspace-wide declaration
    declared = _version(next(iter(ours.values())))
    needs = {
        p["name"]: p["rust_version"]
        for p in packages
        if p["source"] is not None and p.get("rust_version")
    }
    too_new = {name: v for name, v in needs.items() if _version(v) > declared}
    assert not too_new, f"rust-version {declared} is below what these need: {too_new}"
    # Not higher than needed either: the floor is set by a dependency, not picked at random.
    assert max(_version(v) for v in needs.values()) == declared


def test_the_built_extension_is_this_checkouts_version():
    # `__version__` is compiled into the extension; the checkout's version is Cargo.toml's.
    # A stale build (an extension from another checkout or release) fails here.
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    cargo = tomllib.loads((REPOSITORY / "Cargo.toml").read_text())
    assert episampler.__version__ == cargo["workspace"]["package"]["version"]
