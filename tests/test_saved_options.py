"""A checkpoint's `training_state/episampler.json` goes through the checks of the command line:
real files in tmp_path, each bad one refused with an `OptionsError` naming the file and the key
(no LeRobot needed: the options module does not import it)."""

from __future__ import annotations

import hashlib
import json
import logging
from types import SimpleNamespace

import numpy as np
import pytest

from episampler.lerobot import options as _options
from episampler.lerobot.layout import DatasetIdentity, dataset_identity
from episampler.lerobot.options import DatasetSpec, Options, OptionsError, SavedData
from episampler.lerobot.train import _Installation

IDENTITY = DatasetIdentity("me/a", "/data/a", 3, 58, "sha256:" + "0" * 64)
# What `save` wrote before the data identity was recorded (no "data" key).
EARLIER_FILE = {
    "format": 1,
    "options": {"permutation": "feistel", "window": "auto", "batched_fetch": True,
                "datasets": None, "block_size": 1024},
    "sampler": {"window": 120, "group_by": "video_file", "streams": None, "stream_block": None},
}  # fmt: skip
MIXTURE = {
    "permutation": "uniform",
    "window": 10,
    "batched_fetch": False,
    "datasets": [{"repo_id": "me/a", "root": "/data/a", "weight": 0.7},
                 {"repo_id": "me/b", "root": None, "weight": 0.3}],
    "block_size": 10,
}  # fmt: skip


def write(tmp_path, payload) -> str:
    path = tmp_path / _options.STATE_FILE
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return str(path)


def refused(tmp_path, payload) -> str:
    """The one-line message with which `load` refuses `payload`; it names the file."""
    path = write(tmp_path, payload)
    with pytest.raises(OptionsError) as caught:
        _options.load(tmp_path)
    message = str(caught.value)
    assert message.startswith(path), message
    assert "\n" not in message
    return message


def with_options(**changes) -> dict:
    payload = json.loads(json.dumps(EARLIER_FILE))
    payload["options"].update(changes)
    return payload


def test_what_save_writes_loads_as_it_was(tmp_path):
    for options, sampler in [
        (Options(), {"window": None, "group_by": None, "streams": None, "stream_block": None}),
        (Options(permutation="feistel", window="auto", batched_fetch=True),
         {"window": 120, "group_by": "video_file", "streams": 2, "stream_block": 4}),
        (Options(window=16), {"window": 16, "group_by": None}),
        (Options(datasets=(DatasetSpec("me/a", "/a", 0.7), DatasetSpec("me/b", None, 0.3)),
                 block_size=10), {"block_counts": [7, 3]}),
        (Options(datasets=(DatasetSpec("me/a"), DatasetSpec("me/b"))), {"block_counts": [5, 5]}),
    ]:  # fmt: skip
        data = SavedData((IDENTITY,) * (len(options.datasets or [1])), 58, 18, 2)
        for saved_data in (data, None):
            _options.save(tmp_path, options, sampler, saved_data)
            loaded = _options.load(tmp_path)
            assert loaded == _options.Saved(options, sampler, saved_data)


def test_a_file_of_the_earlier_save_loads_without_a_data_identity(tmp_path):
    write(tmp_path, EARLIER_FILE)
    loaded = _options.load(tmp_path)
    assert loaded.options == Options(permutation="feistel", window="auto", batched_fetch=True)
    assert loaded.sampler == EARLIER_FILE["sampler"]
    assert loaded.data is None
    assert _options.load(tmp_path / "elsewhere") is None


def test_a_file_that_is_not_a_json_object_is_refused(tmp_path):
    assert "is not valid JSON" in refused(tmp_path, '{"format": 1, "options": {')
    assert "is not valid JSON" in refused(tmp_path, "")
    assert "must hold a JSON object, got a list" in refused(tmp_path, [EARLIER_FILE])
    assert "has no 'format' key" in refused(tmp_path, {"options": {}})
    assert "another version of episampler (format 2" in refused(tmp_path, {"format": 2})
    assert "another version of episampler (format True" in refused(
        tmp_path, {**EARLIER_FILE, "format": True}
    )


def test_a_missing_or_unknown_key_is_refused_by_name(tmp_path):
    for key in _options.FIELDS:
        payload = with_options()
        del payload["options"][key]
        assert f"the key 'options.{key}' is missing" in refused(tmp_path, payload)
    for key in ("options", "sampler"):
        payload = {k: v for k, v in EARLIER_FILE.items() if k != key}
        assert f"the key '{key}' is missing" in refused(tmp_path, payload)
    assert "'options' must be an object, got a list" in refused(
        tmp_path, {**EARLIER_FILE, "options": []}
    )
    assert "'sampler' must be an object, got null" in refused(
        tmp_path, {**EARLIER_FILE, "sampler": None}
    )
    message = refused(tmp_path, with_options(seed=3))
    assert "unknown key 'options.seed' (the keys are options.permutation," in message
    # A resume-time option is not a saved one.
    assert "unknown key 'options.on_data_change'" in refused(
        tmp_path, with_options(on_data_change="refuse")
    )
    assert "unknown key 'sampler'" not in refused(tmp_path, {**EARLIER_FILE, "extra": 1})
    assert "unknown key 'extra'" in refused(tmp_path, {**EARLIER_FILE, "extra": 1})
    payload = with_options()
    payload["sampler"]["windw"] = 3
    assert "unknown key 'sampler.windw'" in refused(tmp_path, payload)


def test_every_option_goes_through_its_flags_check(tmp_path):
    # The same values the command line accepts, normalised the same way.
    write(tmp_path, with_options(batched_fetch="false"))
    assert _options.load(tmp_path).options.batched_fetch is False  # not a truthy string
    write(tmp_path, with_options(batched_fetch="TRUE", block_size="64", window=None))
    payload = json.loads((tmp_path / _options.STATE_FILE).read_text())
    payload["sampler"]["window"] = None
    write(tmp_path, payload)
    loaded = _options.load(tmp_path).options
    assert (loaded.batched_fetch, loaded.block_size, loaded.window) == (True, 64, None)
    # And the values it refuses, with its message.
    bad = {
        "batched_fetch": ("maybe", "--episampler.batched_fetch must be true or false"),
        "permutation": ("random", "--episampler.permutation must be one of uniform, feistel"),
        "window": ("16x", "--episampler.window must be none, auto or a number of frames"),
        "block_size": (0, "--episampler.block_size must be a number in [1, 2**32]"),
    }
    for key, (value, message) in bad.items():
        text = refused(tmp_path, with_options(**{key: value}))
        assert f"bad 'options.{key}': {message}" in text, text
    text = refused(tmp_path, with_options(window=True))
    assert "bad 'options.window'" in text and "got True" in text


def test_a_window_given_as_a_string_is_the_flags_number_and_must_agree_with_the_sampler(tmp_path):
    payload = with_options(window="16")
    payload["sampler"]["window"] = 16
    write(tmp_path, payload)
    assert _options.load(tmp_path).options.window == 16
    payload["sampler"]["window"] = None  # the options edited apart from what they resolved to
    message = refused(tmp_path, payload)
    assert "'sampler.window' is none but 'options.window' is 16" in message
    payload["sampler"]["window"] = "16"
    assert "bad 'sampler.window': the value must be an int, got str '16'" in refused(
        tmp_path, payload
    )
    payload["sampler"]["window"] = 0
    assert "bad 'sampler.window': the value must be >= 1, got 0" in refused(tmp_path, payload)
    payload["sampler"].update(window=16, group_by="camera")
    assert "bad 'sampler.group_by': must be null, one of video_file" in refused(tmp_path, payload)


def test_a_bad_datasets_list_is_refused_as_the_flag_refuses_it(tmp_path):
    good = {"format": 1, "options": MIXTURE, "sampler": {"block_counts": [7, 3]}}
    write(tmp_path, good)
    assert _options.load(tmp_path).options.datasets == (
        DatasetSpec("me/a", "/data/a", 0.7),
        DatasetSpec("me/b", None, 0.3),
    )
    one_weight = json.loads(json.dumps(good))
    one_weight["options"]["datasets"][1]["weight"] = None  # today: block counts [10, 0]
    message = refused(tmp_path, one_weight)
    assert "bad 'options.datasets': --episampler.datasets: give a weight for every" in message
    assert "1 of 2 have none (me/b)" in message
    twice = json.loads(json.dumps(good))
    twice["options"]["datasets"][1]["repo_id"] = "me/a"
    assert "--episampler.datasets names 'me/a' twice" in refused(tmp_path, twice)
    typo = json.loads(json.dumps(good))
    typo["options"]["datasets"][0]["wieght"] = 1
    assert "datasets[0] (me/a): unknown keys ['wieght']" in refused(tmp_path, typo)
    bad_counts = {**good, "sampler": {"block_counts": [7]}}
    assert "'sampler.block_counts' has 1 entries for 2 datasets" in refused(tmp_path, bad_counts)
    window = {**good, "sampler": {"block_counts": [7, 3], "window": 10}}
    assert "'sampler.window' is set but the run trains on several datasets" in refused(
        tmp_path, window
    )


def test_a_bad_data_identity_is_refused(tmp_path):
    entry = {"repo_id": "me/a", "root": "/data/a", "episodes": 3, "frames": 58,
             "boundaries": "sha256:" + "0" * 64}  # fmt: skip
    data = {"datasets": [entry], "epoch_length": 58, "epoch_origin": {"step": 0, "epoch": 0}}
    write(tmp_path, {**EARLIER_FILE, "data": data})
    assert _options.load(tmp_path).data == SavedData((IDENTITY,), 58, 0, 0)
    cases = [
        ({"datasets": {}}, "'data.datasets' must be a list, got an object"),
        ({"datasets": [entry, entry]}, "'data.datasets' has 2 entries for 1 dataset"),
        ({"datasets": [{**entry, "frames": -1}]}, "bad 'data.datasets[0].frames'"),
        ({"datasets": [{**entry, "episodes": "3"}]}, "bad 'data.datasets[0].episodes'"),
        ({"datasets": [{**entry, "boundaries": "abc"}]}, "bad 'data.datasets[0].boundaries'"),
        ({"datasets": [{**entry, "extra": 1}]}, "unknown key 'data.datasets[0].extra'"),
        ({"epoch_length": 0}, "bad 'data.epoch_length': the value must be >= 1"),
        ({"epoch_origin": {"step": 0}}, "the key 'data.epoch_origin.epoch' is missing"),
        ({"epoch_origin": {"step": True, "epoch": 0}}, "bad 'data.epoch_origin.step'"),
    ]
    for change, message in cases:
        assert message in refused(tmp_path, {**EARLIER_FILE, "data": {**data, **change}}), change
    assert "'data' must be an object, got a list" in refused(tmp_path, {**EARLIER_FILE, "data": []})


def test_the_run_refuses_a_bad_file_when_it_resolves_its_options(tmp_path):
    """The path the training takes: `resolve` on a resumed run loads the checkpoint's file."""
    state = tmp_path / "checkpoints" / "000018" / "training_state"
    state.mkdir(parents=True)
    write(state, with_options(batched_fetch="maybe"))
    cfg = SimpleNamespace(resume=True, checkpoint_path=state.parent)
    with pytest.raises(OptionsError, match=r"episampler\.json: bad 'options\.batched_fetch'"):
        _Installation(SimpleNamespace(), None, {}).resolve(cfg)


# --- the data identity ------------------------------------------------------------------------

FROM, TO = [0, 17, 38], [17, 38, 58]


def v3_like(starts, ends, **extra):
    table = {"dataset_from_index": np.asarray(starts), "dataset_to_index": np.asarray(ends)}
    return SimpleNamespace(meta=SimpleNamespace(episodes=table), **extra)


def test_the_identity_of_a_v3_dataset(tmp_path):
    dataset = v3_like(FROM, TO, repo_id="me/a", root=tmp_path, episodes=[1])
    identity = dataset_identity(dataset)
    digest = hashlib.sha256(np.asarray(FROM + TO, dtype="<i8").tobytes()).hexdigest()
    assert identity == DatasetIdentity("me/a", str(tmp_path), 3, 58, "sha256:" + digest)
    assert identity.name() == f"me/a, root {tmp_path}"
    assert identity.changes_since(identity) == []
    # One more episode recorded.
    longer = dataset_identity(v3_like([*FROM, 58], [*TO, 67], repo_id="me/a", root=tmp_path))
    assert longer.changes_since(identity) == [
        "episodes 3 -> 4",
        "frames 58 -> 67",
        "episode boundaries differ",
    ]
    # The same counts, other boundaries.
    moved = dataset_identity(v3_like([0, 18, 38], [18, 38, 58]))
    assert moved.changes_since(identity) == ["episode boundaries differ"]
    v2 = SimpleNamespace(episode_data_index={"from": FROM, "to": TO})
    assert dataset_identity(v2).boundaries == identity.boundaries
    assert dataset_identity(object()) is None


def point(state) -> tuple[int, int]:
    return state["epoch"], state["start_index"]


def resumed_run(tmp_path, saved_identity, now_identity, on_data_change=None):
    """An installation that resumed a checkpoint recording `saved_identity` (epochs of 58
    positions), on data whose identity is now `now_identity`."""
    explicit = {} if on_data_change is None else {"on_data_change": on_data_change}
    run = _Installation(SimpleNamespace(), None, explicit)
    run.checkpoint = str(tmp_path / "000018")
    run.saved_data = SavedData((saved_identity,), 58)
    run.identities = (now_identity,)
    run.check_data(Options())
    return run


def test_a_changed_dataset_is_refused_naming_it_and_what_changed(tmp_path, caplog):
    before = dataset_identity(v3_like(FROM, TO, repo_id="me/a", root="/data/a"))
    after = dataset_identity(v3_like([*FROM, 58], [*TO, 67], repo_id="me/a", root="/data/a"))
    with pytest.raises(OptionsError) as caught:
        resumed_run(tmp_path, before, after)
    message = str(caught.value)
    assert f"the data changed since the checkpoint being resumed ({tmp_path}/000018)" in message
    assert "me/a, root /data/a: episodes 3 -> 4, frames 58 -> 67, episode boundaries" in message
    assert "--episampler.on_data_change=restart_epoch" in message
    # Unchanged: nothing said, the order continues.
    run = resumed_run(tmp_path, before, before)
    assert point(run.compute_sampler_state(18, 58, 4, 1)) == (1, 12)


def test_restart_epoch_starts_the_next_epoch_and_later_resumes_count_from_there(tmp_path, caplog):
    before = dataset_identity(v3_like(FROM, TO))
    after = dataset_identity(v3_like([*FROM, 58], [*TO, 67]))
    with caplog.at_level(logging.WARNING, logger="episampler.lerobot"):
        run = resumed_run(tmp_path, before, after, on_data_change="restart_epoch")
    assert "episodes 3 -> 4" in caplog.text and "restart_epoch" in caplog.text
    # Step 18 of epochs of 15 steps (58 frames, batches of 4): 3 steps into epoch 1; epoch 2
    # starts at step 18 on the new data (67 frames: 17 steps per epoch).
    assert point(run.compute_sampler_state(18, 67, 4, 1)) == (2, 0)
    assert run.origin == (18, 2)
    # Its next checkpoint records the origin; resuming that one maps steps from there.
    later = _Installation(SimpleNamespace(), None, {})
    later.origin = run.origin
    assert point(later.compute_sampler_state(18 + 17 + 5, 67, 4, 1)) == (3, 20)
    # A checkpoint at an epoch's end: that epoch had not begun, it starts now.
    at_end = resumed_run(tmp_path, before, after, on_data_change="restart_epoch")
    assert point(at_end.compute_sampler_state(15, 67, 4, 1)) == (1, 0)


def test_a_checkpoint_without_identity_resumes_with_one_info_line(tmp_path, caplog):
    run = _Installation(SimpleNamespace(), None, {})
    run.checkpoint = str(tmp_path)
    run.identities = (IDENTITY,)
    with caplog.at_level(logging.INFO, logger="episampler.lerobot"):
        run.check_data(Options())
    lines = [r for r in caplog.records if r.name == "episampler.lerobot"]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    assert "records no dataset identity" in lines[0].getMessage()
    assert point(run.compute_sampler_state(18, 58, 4, 1)) == (1, 12)


def test_on_data_change_is_a_flag_of_the_resume_not_a_saved_option():
    explicit, rest = _options.split_arguments(["--episampler.on_data_change=restart_epoch", "-x"])
    assert explicit == {"on_data_change": "restart_epoch"} and rest == ["-x"]
    with pytest.raises(OptionsError, match="on_data_change must be one of refuse, restart_epoch"):
        _options.split_arguments(["--episampler.on_data_change=ignore"])
    saved = Options(permutation="feistel")
    assert _options.resolve(explicit, saved, "ckpt") == saved  # no contradiction
    assert _options.resolve(explicit, None, "") == Options()
    assert "--episampler.on_data_change=refuse|restart_epoch" in _options.HELP


@pytest.mark.parametrize(
    ("value", "expected"),
    [("500", 500), ("40GB", 40 * 10**9), ("4GiB", 4 * 2**30), ("1.5 MB", 1_500_000),
     ("2tb", 2 * 10**12), (123, 123)],
)  # fmt: skip
def test_cache_bytes_takes_bytes_with_an_optional_unit(value, expected):
    assert _options.check_cache_bytes(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "abc", "5XB", "", "1e9", True, 1.5, None])
def test_bad_cache_bytes_are_refused_by_name(value):
    with pytest.raises(OptionsError, match=r"--episampler.cache_bytes must be a number of bytes"):
        _options.check_cache_bytes(value)


def test_the_streams_disk_options_are_flags_of_the_run_not_saved_options():
    explicit, rest = _options.split_arguments(
        ["--episampler.cache_bytes", "2GB", "--episampler.cache_dir=/data/copies", "-x"]
    )
    assert explicit == {"cache_bytes": 2 * 10**9, "cache_dir": "/data/copies"}
    assert rest == ["-x"]
    saved = Options(window="auto")
    assert _options.resolve(explicit, saved, "ckpt") == saved  # a resume may use another disk
    assert "cache_bytes" not in Options().to_json() and "cache_dir" not in Options().to_json()
    with pytest.raises(OptionsError, match="cache_dir must be a directory path"):
        _options.split_arguments(["--episampler.cache_dir="])
    assert "--episampler.cache_bytes=N" in _options.HELP
    assert "--episampler.cache_dir=PATH" in _options.HELP
