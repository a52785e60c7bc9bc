"""The scripts in examples/ run and assert what they claim, and every Python code block in the
README and on the documentation site is one of them (word for word) or a doctest that runs."""

from __future__ import annotations

import contextlib
import doctest
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import episampler

REPOSITORY = Path(__file__).resolve().parent.parent
EXAMPLES = REPOSITORY / "examples"
# Needs LeRobot: run by tests/real_lerobot/test_examples_lerobot.py in its virtualenvs.
LEROBOT_EXAMPLES = {"lerobot_dataset.py", "stream_lerobot.py"}
SNIPPET = re.compile(
    r"# --8<-- \[start:(?P<name>[\w-]+)\]\n(?P<body>.*?)\n\s*# --8<-- \[end:(?P=name)\]", re.S
)
BLOCK = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", re.S | re.M)
INCLUDE = re.compile(r'^--8<-- "(?P<path>[^":]+)(?::(?P<name>[\w-]+))?"$', re.M)


def markdown_files() -> list[Path]:
    return [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").rglob("*.md"))]


def snippets() -> dict[str, str]:
    """Every marked section of every example, dedented, by `file:name`."""
    found = {}
    for path in sorted(EXAMPLES.glob("*.py")):
        for match in SNIPPET.finditer(path.read_text()):
            found[f"examples/{path.name}:{match['name']}"] = textwrap.dedent(match["body"])
    return found


@pytest.mark.parametrize(
    "name", sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in LEROBOT_EXAMPLES)
)
@pytest.mark.timeout(300)
def test_example_runs_and_its_assertions_hold(name):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=EXAMPLES.parent,
        env={**os.environ, "PYTHONWARNINGS": "default"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip(), "an example says what it showed"


def test_every_example_has_a_docstring_with_its_command():
    for path in EXAMPLES.glob("*.py"):
        text = path.read_text()
        assert text.startswith('"""'), path.name
        assert f"python examples/{path.name}" in text, path.name


def test_every_python_block_is_an_example_or_a_doctest():
    sections = snippets()
    for path in markdown_files():
        for block in BLOCK.finditer(path.read_text()):
            if block["lang"] != "python":
                continue
            body = block["body"]
            if body.lstrip().startswith(">>>"):
                continue  # run by test_doctest_blocks_run
            if INCLUDE.fullmatch(body.strip()):
                continue  # an example's section, included when the site is built
            assert body.rstrip("\n") in sections.values(), (
                f"{path.relative_to(REPOSITORY)}: a Python block that is neither a section of "
                f"an example in examples/ nor a doctest:\n{body}"
            )


def test_every_included_snippet_exists():
    sections = snippets()
    for path in markdown_files():
        for include in INCLUDE.finditer(path.read_text()):
            key = f"{include['path']}:{include['name']}" if include["name"] else include["path"]
            assert include["name"] is None or key in sections, f"{path.name}: {key}"
            assert (REPOSITORY / include["path"]).is_file(), f"{path.name}: {include['path']}"


def test_doctest_blocks_run():
    parser, runner = (
        doctest.DocTestParser(),
        doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE),
    )
    for path in markdown_files():
        for number, block in enumerate(BLOCK.finditer(path.read_text())):
            if block["lang"] == "python" and block["body"].lstrip().startswith(">>>"):
                globs = {name: getattr(episampler, name) for name in episampler.__all__}
                test = parser.get_doctest(block["body"], globs, f"{path.name}#{number}", None, 0)
                runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_bash_blocks_name_commands_that_exist():
    """`make X` targets exist; `python -m M` modules import."""
    makefile = (REPOSITORY / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    for path in markdown_files():
        for block in BLOCK.finditer(path.read_text()):
            if block["lang"] not in ("bash", "sh", "shell"):
                continue
            for target in re.findall(r"^\s*make ([\w-]+)", block["body"], re.M):
                assert target in targets, f"{path.name}: make {target}"
            for module in re.findall(r"python3? -m (episampler[\w.]*)", block["body"]):
                __import__(module)


@pytest.mark.parametrize(
    ("name", "needs"), [("lerobot_dataset.py", "LeRobot"), ("stream_lerobot.py", "LeRobot 0.6")]
)
def test_an_example_that_needs_lerobot_says_so_in_one_line_without_it(name, needs):
    pytest.importorskip("torch")
    if importlib.util.find_spec("lerobot") is not None:
        pytest.skip("LeRobot is installed here")
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--repo-id", "user/name", "--root", "x"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f'examples/{name} needs {needs}: pip install "lerobot[dataset]"'
    ]
    assert name in LEROBOT_EXAMPLES


class _Frames(torch.utils.data.Dataset):
    """A toy dataset for the README's quick start: item `i` is frame `i`."""

    def __len__(self) -> int:
        return 300

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor(index)


@pytest.mark.slow  # DataLoader worker processes
def test_the_readme_quick_start_runs_as_pasted_and_resumes_exactly():
    """The quick start's code block, verbatim, around the names it leaves to the reader: a run
    stopped after a checkpoint and started again from it takes the uninterrupted run's steps."""
    text = (REPOSITORY / "README.md").read_text()
    quick_start = text[text.index("## Quick start") :]
    code = next(
        block["body"]
        for block in BLOCK.finditer(quick_start)
        if block["lang"] == "python" and not block["body"].lstrip().startswith(">>>")
    )

    def run(checkpoint, total_steps, stop_at=None):
        seen, saved = {}, []

        class Stop(Exception):
            pass

        def train_step(batch):
            if len(seen) + (checkpoint or {}).get("step", 0) == stop_at:
                raise Stop
            seen[len(seen) + (checkpoint or {}).get("step", 0)] = batch.tolist()

        names = {
            "starts": [0, 90, 130, 250], "ends": [90, 130, 250, 300], "dataset": _Frames(),
            "checkpoint": checkpoint, "total_steps": total_steps, "train_step": train_step,
            "save": saved.append,
        }  # fmt: skip
        with contextlib.suppress(Stop):
            exec(compile(code, "README.md#quick-start", "exec"), names)
        return seen, saved

    uninterrupted, _ = run(None, 40)
    stopped, saved = run(None, 40, stop_at=25)
    assert saved[-1] == {"step": 20}
    resumed, _ = run(saved[-1], 40)
    assert sorted(resumed) == list(range(20, 40))
    assert all(resumed[s] == uninterrupted[s] for s in range(20, 40))
    assert all(stopped[s] == uninterrupted[s] for s in range(25))
