"""The `--episampler.*` options of `episampler-lerobot-train`, and its command line where LeRobot
is missing or unsupported. These run in every environment (no LeRobot needed): the main one
(LeRobot absent), and each LeRobot virtualenv."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from episampler.lerobot import options as _options
from episampler.lerobot.options import DatasetSpec, Options, OptionsError
from tests.real_lerobot.conftest import lerobot_version
from tests.support import REPOSITORY

pytestmark = pytest.mark.lerobot_versions  # run on every LeRobot version (Makefile)


def test_flags_are_split_from_lerobots_arguments_and_checked():
    explicit, rest = _options.split_arguments(
        ["--steps=3", "--episampler.window=auto", "--episampler.permutation", "feistel",
         "--episampler.batched_fetch=TRUE", "--episampler.block_size=10", "--batch_size=4"]
    )  # fmt: skip
    assert rest == ["--steps=3", "--batch_size=4"]
    assert explicit == {
        "window": "auto",
        "permutation": "feistel",
        "batched_fetch": True,
        "block_size": 10,
    }
    assert _options.split_arguments(["--episampler.window=none"])[0] == {"window": None}
    assert _options.split_arguments(["--episampler.window=64"])[0] == {"window": 64}
    bad = {
        "--episampler.window=0": "--episampler.window must be none, auto or a number",
        "--episampler.window=big": "--episampler.window must be none, auto or a number",
        "--episampler.permutation=random": "--episampler.permutation must be one of",
        "--episampler.batched_fetch=yes": "--episampler.batched_fetch must be true or false",
        "--episampler.block_size=0": "--episampler.block_size must be a number in",
        "--episampler.seed=3": "unknown option --episampler.seed; the options are",
        "--episampler.on_data_change=warn": "--episampler.on_data_change must be one of refuse, "
        "restart_epoch",
    }
    for argument, message in bad.items():
        with pytest.raises(OptionsError) as caught:
            _options.split_arguments([argument])
        assert message in str(caught.value), argument
    with pytest.raises(OptionsError, match=r"is given twice"):
        _options.split_arguments(["--episampler.window=3", "--episampler.window=4"])
    with pytest.raises(OptionsError, match="needs a value"):
        _options.split_arguments(["--episampler.window"])


def test_datasets_from_json_or_a_file_and_bad_lists_named(tmp_path):
    specs = [{"repo_id": "me/a", "root": "/data/a", "weight": 0.7},
             {"repo_id": "me/b", "root": "/data/b", "weight": 0.3}]  # fmt: skip
    expected = (DatasetSpec("me/a", "/data/a", 0.7), DatasetSpec("me/b", "/data/b", 0.3))
    assert _options.check_datasets(json.dumps(specs)) == expected
    path = tmp_path / "mix.json"
    path.write_text(json.dumps(specs))
    assert _options.check_datasets(str(path)) == expected
    bad = {
        "[]": "must be a non-empty list",
        "{not json": "no such file",
        "[{": "is not valid JSON",
        '[{"root": "/x"}]': r"datasets[0] must be an object with a repo_id",
        '[{"repo_id": "me/a", "wieght": 1}]': "datasets[0] (me/a): unknown keys ['wieght']",
        '[{"repo_id": "me/a", "weight": -1}]': "datasets[0] (me/a): weight must be finite and >= 0",
        '[{"repo_id": "me/a", "weight": "1"}]': "datasets[0] (me/a): weight must be a number",
        '[{"repo_id": "me/a", "weight": 1}, {"repo_id": "me/b"}]': "1 of 2 have none (me/b)",
        '[{"repo_id": "me/a", "weight": 0}, {"repo_id": "me/b", "weight": 0}]': "all 0",
        '[{"repo_id": "me/a"}, {"repo_id": "me/a"}]': "names 'me/a' twice",
    }
    for value, message in bad.items():
        with pytest.raises(OptionsError) as caught:
            _options.check_datasets(value)
        assert message in str(caught.value), value


def test_a_resume_restores_the_saved_options_and_refuses_a_contradicting_flag(tmp_path):
    saved = Options(permutation="feistel", window="auto", batched_fetch=True)
    _options.save(tmp_path, saved, {"window": 120, "group_by": "video_file"})
    loaded = _options.load(tmp_path)
    options, sampler = loaded.options, loaded.sampler
    assert options == saved and sampler == {"window": 120, "group_by": "video_file"}
    assert _options.resolve({}, options, "ckpt") == saved  # no flag: the saved options
    assert _options.resolve({"permutation": "feistel"}, options, "ckpt") == saved
    with pytest.raises(OptionsError) as caught:
        _options.resolve({"permutation": "uniform"}, options, "ckpt/000018")
    message = str(caught.value)
    assert "--episampler.permutation=uniform contradicts the checkpoint" in message
    assert "(ckpt/000018)" in message and "--episampler.permutation=feistel" in message
    with pytest.raises(OptionsError, match=r"--episampler\.batched_fetch=false contradicts"):
        _options.resolve({"batched_fetch": False}, options, "ckpt")
    # A new run: the defaults and the flags.
    assert _options.resolve({"window": 8}, None, "") == Options(window=8)
    assert _options.load(tmp_path / "elsewhere") is None


def test_the_command_without_a_supported_lerobot_is_one_clean_line():
    command = [sys.executable, "-m", "episampler.lerobot", "--help"]
    result = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, timeout=300)
    version = lerobot_version()
    if version is not None and version.startswith("0.6."):  # supported: LeRobot's help and ours
        assert result.returncode == 0, result.stderr[-3000:]
        assert "--episampler.window=none|auto|N" in result.stdout
        assert "--dataset.repo_id" in result.stdout
        return
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    if version is None:
        assert "needs LeRobot: pip install 'lerobot[dataset,training]==0.6.1'" in lines[0]
    else:
        assert f"supports lerobot 0.6.1, 0.6.2, not {version}" in lines[0]
