"""The documentation site in a real browser: build it (strict), serve it over HTTP, open every
page in headless Chromium at 1280 px and fail on a broken internal link or anchor, an API
reference page without its documented objects (or with an empty one), or a code block or table
clipped behind a scrollbar. Screenshots of every page are kept in `site-screens/`.

Needs Debian's `chromium` and the docs' packages (`make docs` installs them). Without them the
test is skipped with the reason, except in CI (`CI=true`, as `.ci/run` sets), where it fails."""

from __future__ import annotations

import concurrent.futures
import functools
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
SCREENS = REPOSITORY / "site-screens"
WIDTH = 1280
RESULT = re.compile(r'<pre id="episampler-site-check"[^>]*>(.*?)</pre>', re.S)

# Runs in the page once it has loaded (Material's own scripts included) and writes what it
# found into the DOM, which `chromium --dump-dom` prints.
CHECK = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const out = {links: [], clipped: [], empty: [], objects: 0, width: window.innerWidth};
  for (const a of document.querySelectorAll("a[href]")) out.links.push(a.href);
  const content = document.querySelector(".md-content") || document.body;
  for (const el of content.querySelectorAll("pre > code, table")) {
    // Material puts tables in a scrolling wrapper: that box is what clips them.
    const box = el.tagName === "TABLE" ? (el.closest(".md-typeset__scrollwrap") || el) : el;
    if (box.scrollWidth > box.clientWidth + 1) {
      const size = `${box.scrollWidth} px in ${box.clientWidth} px`;
      const text = el.textContent.trim().slice(0, 70);
      out.clipped.push(`${el.tagName.toLowerCase()} (${size}): ${text}`);
    }
  }
  for (const obj of content.querySelectorAll(".doc-object")) {
    out.objects += 1;
    const body = obj.querySelector(":scope > .doc-contents");
    if (!body || body.textContent.trim().length < 10) {
      const heading = obj.querySelector(".doc-heading");
      out.empty.push(heading ? heading.textContent.trim() : obj.className);
    }
  }
  const pre = document.createElement("pre");
  pre.id = "episampler-site-check";
  pre.style.display = "none";  // in the DOM for --dump-dom, not in the screenshot
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 200));
</script>
"""


def _required() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(reason: str) -> None:
    if _required():
        pytest.fail(f"{reason} (required in CI)", pytrace=False)
    pytest.skip(reason)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    _missing("needs Debian's chromium package (apt-get install chromium)")
    raise AssertionError("unreachable")


class _Handler(SimpleHTTPRequestHandler):
    """Serves the built site; HTML pages get the check script before `</body>`."""

    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix != ".html" or not path.is_file():
            return super().send_head()
        body = path.read_bytes().replace(b"</body>", CHECK.encode() + b"</body>", 1)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        import io

        return io.BytesIO(body)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    chromium = _chromium()
    try:
        import mkdocs  # noqa: F401
        import mkdocstrings  # noqa: F401
    except ImportError:
        _missing("needs mkdocs and mkdocstrings (make docs installs them)")
    prebuilt = os.environ.get("EPISAMPLER_BUILT_SITE")
    if prebuilt:
        # CI checks the site its docs stage has just built (`make docs`, strict) instead of
        # building it a second time.
        out = Path(prebuilt).resolve()
        assert (out / "index.html").is_file(), f"EPISAMPLER_BUILT_SITE={prebuilt} holds no site"
    else:
        out = tmp_path_factory.mktemp("site")
        built = subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
            cwd=REPOSITORY, capture_output=True, text=True, check=False,
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        )  # fmt: skip
        assert built.returncode == 0, built.stdout + built.stderr
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(out)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield out, f"http://127.0.0.1:{server.server_address[1]}/", chromium
    finally:
        server.shutdown()
        server.server_close()


def _pages(root: Path) -> list[str]:
    pages = []
    for path in sorted(root.rglob("index.html")):
        relative = path.parent.relative_to(root).as_posix()
        if relative.startswith(("search", "assets")):
            continue
        pages.append("" if relative == "." else relative + "/")
    return pages


def _open(chromium: str, url: str, screenshot: Path) -> dict:
    # A profile of its own: Chromium exits at once when another instance holds the default one.
    profile = tempfile.mkdtemp(prefix="episampler-chromium-")
    try:
        return _run_chromium(chromium, url, screenshot, profile)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _run_chromium(chromium: str, url: str, screenshot: Path, profile: str) -> dict:
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", "--disable-extensions", "--mute-audio",
         f"--user-data-dir={profile}",
         f"--window-size={WIDTH},2000", "--virtual-time-budget=8000",
         f"--screenshot={screenshot}", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    found = RESULT.search(result.stdout)
    assert found, f"{url}: the page's check did not run\n{result.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


@functools.cache
def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # the local server only
            body = response.read()
            kind = response.headers.get("Content-Type", "")
            return response.status, body.decode() if "html" in kind else ""
    except urllib.error.HTTPError as error:
        return error.code, ""


def _link_problem(base: str, link: str) -> str | None:
    if not link.startswith(base):
        return None  # another site: not fetched (the test runs offline)
    target, _, anchor = link.partition("#")
    status, text = _fetch(target)
    if status != 200:
        return f"{link}: HTTP {status}"
    if anchor and text:
        anchor = urllib.parse.unquote(anchor)
        if f'id="{anchor}"' not in text and f"id={anchor}" not in text:
            return f"{link}: no element with id {anchor!r}"
    return None


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_every_page_renders_with_working_links_full_api_and_unclipped_code(site):
    root, base, chromium = site
    SCREENS.mkdir(exist_ok=True)
    pages = _pages(root)
    assert "reference/episode-aware-sampler/" in pages and "" in pages, pages

    def visit(page: str) -> tuple[str, dict]:
        name = (page.strip("/") or "index").replace("/", "__")
        return page, _open(chromium, base + page, SCREENS / f"{name}.png")

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(visit, pages))

    problems = []
    for page, found in results.items():
        assert found["width"] == WIDTH, (page, found["width"])
        problems += [f"/{page}: broken link {p}" for link in found["links"]
                     if (p := _link_problem(base, link))]  # fmt: skip
        problems += [f"/{page}: clipped {c}" for c in found["clipped"]]
        problems += [f"/{page}: empty API section {e!r}" for e in found["empty"]]
        if page.startswith("reference/") and page != "reference/" and found["objects"] == 0:
            problems.append(f"/{page}: an API page without any documented object")
    assert not problems, "\n".join(problems)
    assert len(list(SCREENS.glob("*.png"))) >= len(pages)


def test_the_check_script_finds_what_it_looks_for(tmp_path):
    """The browser check itself can fail: a page with a clipped code block, a table wider than
    its box and an empty API object is reported as such."""
    chromium = _chromium()
    page = tmp_path / "index.html"
    page.write_text(
        "<html><body><div class='md-content'>"
        "<pre><code style='display:block;overflow:auto;width:300px'>" + "x" * 400 + "</code></pre>"
        "<div class='md-typeset__scrollwrap' style='overflow:auto;width:200px'><table><tr>"
        + "<td>wide&nbsp;cell&nbsp;content</td>"
        * 10
        + "</tr></table></div>"
        "<div class='doc-object'><h2 class='doc-heading'>Empty</h2>"
        "<div class='doc-contents'> </div></div>"
        "<a href='missing/'>broken</a>"
        "</div>" + CHECK + "</body></html>"
    )
    found = _open(chromium, page.as_uri(), tmp_path / "shot.png")
    assert len(found["clipped"]) == 2, found
    assert found["empty"] == ["Empty"], found
    assert found["objects"] == 1
    assert any(link.endswith("/missing/") for link in found["links"])
