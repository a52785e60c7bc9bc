"""mkdocs hook: powers such as 10^7 are rendered as superscripts outside code, and pages include
sections of the README (the intro, the feature table, install and
the two commands) and whole benchmark result files, so each text lives in one place (code comes
from examples/ through pymdownx.snippets). A page line `<!-- include README.md#name -->` becomes the
README's text between `<!-- section: name -->` and `<!-- end: name -->`; `<!-- include
benches/x.md -->` becomes that whole file. Links are rewritten from the including file's
folder to the docs' layout; an unknown section or file fails the build."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = re.compile(r"^<!-- include (?P<path>[\w./-]+?)(?:#(?P<section>[\w-]+))? -->$", re.M)
LINK = re.compile(r"\]\((?P<target>[^)#\s]+)(?P<anchor>#[^)\s]*)?\)")
# Repository paths -> paths in the docs folder.
MOVED = {"docs/": "", "benches/results": "benchmarks/results"}


def _section(text: str, name: str, source: str) -> str:
    match = re.search(rf"<!-- section: {name} -->\n(.*?)\n<!-- end: {name} -->", text, re.S)
    if match is None:
        raise ValueError(f"{source} has no section {name!r}")
    return match.group(1).strip("\n")


def _rewrite_links(text: str, depth: int) -> str:
    """Links written relative to the repository root (README) or to `benches/` (result
    files), made relative to a page `depth` folders below `docs/`."""
    up = "../" * depth

    def fix(match: re.Match[str]) -> str:
        target, anchor = match.group("target"), match.group("anchor") or ""
        if "://" in target or target.startswith("#"):
            return match.group(0)
        for old, new in MOVED.items():
            if target.startswith(old):
                return f"]({up}{new}{target[len(old) :]}{anchor})"
        return match.group(0)

    return LINK.sub(fix, text)


def on_page_markdown(markdown: str, page, config, files) -> str:
    depth = page.file.src_uri.count("/")

    def include(match: re.Match[str]) -> str:
        path, section = match.group("path"), match.group("section")
        source = ROOT / path
        if not source.is_file():
            raise ValueError(f"{page.file.src_uri}: no file {path}")
        text = source.read_text()
        text = _section(text, section, path) if section else text
        if path.startswith("benches/"):
            text = text.replace("](../docs/", "](../")  # result files link from benches/
            return text
        return _rewrite_links(text, depth)

    return _powers(INCLUDE.sub(include, markdown))


# `10^7`, `2^-32` in prose and tables (written so in the README, which GitHub shows as text) are
# rendered as powers on the site; code blocks and inline code keep the caret.
POWER = re.compile(r"(?<![\w^])(\d+)\^(-?\d+)(?![\w^])")
CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)


def _powers(markdown: str) -> str:
    parts = CODE.split(markdown)
    for i in range(0, len(parts), 2):  # even parts are outside code
        parts[i] = POWER.sub(r"\1<sup>\2</sup>", parts[i])
    return "".join(parts)
