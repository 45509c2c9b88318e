"""Every Python example in README.md and docs/*.md runs, and prints what the page shows.

The conventions a page follows (docs/index.md#writing-examples-that-are-tested says the
same for writers):

- A fenced block whose language is ``python`` or ``py`` is run. The blocks of one page
  run in order, in one namespace, so a block may use what an earlier block of the same
  page defined.
- What a block prints is shown in a ``text`` block directly after it (blank lines
  between are allowed). The printed text must match it: words and punctuation exactly
  (runs of white space count as one space), integers exactly, and other numbers within
  ``rtol=0.01`` (1%) or ``atol=1e-6``. A block that prints anything must show it.
- HTML comments directly before a Python block (invisible when the page is rendered)
  change that:

  ``<!-- docs-test: skip (reason) -->``  the block is not run; the reason is required
  (e.g. ``(fragment: net, x and y are not defined)``, ``(signature)``, ``(needs
  NengoDL)``).

  ``<!-- docs-test: tolerance rtol=0.05 atol=0.001 (reason) -->``  other tolerances for
  this block's numbers.

  ``<!-- docs-test: numbers vary (reason) -->``  the shown output's numbers are an
  example only (timings); its words are still checked.
"""

import contextlib
import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import private_net

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON = {"python", "py", "python3"}
OUTPUT = {"text"}
RTOL, ATOL = 0.01, 1e-6
# Pages written before these markers existed: a block of theirs that has no marker and
# fails is counted as skipped instead of failing the test. docs/design.md is rewritten
# on another branch, which adds the markers; take it out of here when that lands.
UNMARKED_PAGES = {"docs/design.md"}
# Pages whose examples start Ray: they run in a subprocess in a private network
# namespace with only loopback (tests/private_net.py), never on the machine's network.
PRIVATE_NET_PAGES = {"docs/cluster.md"}

FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)[^\n]*$")
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:nan|inf|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)(?![\w.])"
)


class Block:
    def __init__(self, page, line, lang, code, markers):
        self.page, self.line, self.lang, self.code = page, line, lang, code
        self.markers = markers
        self.output = None  # the text block shown after it, if any

    @property
    def where(self):
        return f"{self.page}:{self.line}"

    def marker(self, name):
        for m in self.markers:
            if m == name or m.startswith(name + " "):
                return m
        return None


def parse(path):
    """The fenced blocks of a Markdown page, with the markers before each."""
    rel = path.relative_to(ROOT).as_posix()
    lines = path.read_text().splitlines()
    blocks, markers, i = [], [], 0
    last_code = None  # the Python block an output block may belong to
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            mk = MARKER.match(lines[i])
            if mk:
                markers.append(mk.group(1))
            elif lines[i].strip():
                markers, last_code = [], None
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(
                lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i]
            )
            i += 1
        i += 1
        if lang in PYTHON:
            block = Block(rel, start, lang, "\n".join(body) + "\n", markers)
            blocks.append(block)
            last_code = block
        elif lang in OUTPUT and last_code is not None and last_code.output is None:
            last_code.output = "\n".join(body)
            last_code = None
        else:
            last_code = None
        markers = []
    return blocks


def tolerance(block):
    rtol, atol = RTOL, ATOL
    m = block.marker("tolerance")
    if m:
        for key, value in re.findall(r"(rtol|atol)=([\d.eE+-]+)", m):
            if key == "rtol":
                rtol = float(value)
            else:
                atol = float(value)
    return rtol, atol


def split(text):
    """Text as (words with numbers replaced by #, the numbers as strings)."""
    numbers = NUMBER.findall(text)
    words = " ".join(NUMBER.sub("#", text).split())
    return words, numbers


def compare(block, printed):
    """Why the printed text does not match what the page shows, or None."""
    shown = block.output
    want_words, want_numbers = split(shown)
    got_words, got_numbers = split(printed)
    if want_words != got_words or len(want_numbers) != len(got_numbers):
        return "text differs"
    if block.marker("numbers vary"):
        return None
    rtol, atol = tolerance(block)
    for want, got in zip(want_numbers, got_numbers, strict=True):
        if re.fullmatch(r"[-+]?\d+", want):
            if want != got:
                return f"{got} where the page shows {want}"
            continue
        w, g = float(want), float(got)
        if math.isnan(w) and math.isnan(g):
            continue
        if not math.isclose(g, w, rel_tol=rtol, abs_tol=atol):
            return f"{got} where the page shows {want} (rtol={rtol}, atol={atol})"
    return None


ALL_BLOCKS = {p.relative_to(ROOT).as_posix(): parse(p) for p in PAGES}


def test_pages_found():
    assert "README.md" in ALL_BLOCKS and "docs/training.md" in ALL_BLOCKS
    n_run = sum(not b.marker("skip") for bs in ALL_BLOCKS.values() for b in bs)
    n_skip = sum(bool(b.marker("skip")) for bs in ALL_BLOCKS.values() for b in bs)
    print(f"docs: {n_run} Python blocks run, {n_skip} marked skip")
    assert n_run > 20


@pytest.mark.parametrize("page", [p for p, bs in ALL_BLOCKS.items() if bs])
def test_markers_have_reasons(page):
    for block in ALL_BLOCKS[page]:
        for m in block.markers:
            assert re.fullmatch(
                r"(skip|numbers vary|tolerance( (rtol|atol)=\S+)+) \(.+\)", m
            ), f"{block.where}: marker {m!r} needs a known name and a (reason)"


@pytest.mark.parametrize("page", [p for p, bs in ALL_BLOCKS.items() if bs])
def test_page_examples_run_and_print_what_is_shown(page, tmp_path, monkeypatch):
    pytest.importorskip("nengo_native")
    if page in PRIVATE_NET_PAGES and not private_net.inside():
        run_in_private_net(page)
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # Progress bars of runs that take over a second would land in the printed text.
    import nengo

    monkeypatch.setitem(nengo.rc["progress"], "progress_bar", "False")
    namespace = {"__name__": "__docs__"}
    problems, tolerated = [], []
    for block in ALL_BLOCKS[page]:
        if block.marker("skip"):
            continue
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(block.code, block.where, "exec"), namespace)
        except Exception as e:  # noqa: BLE001 (reported with the block's place)
            if page in UNMARKED_PAGES and not block.markers:
                tolerated.append(f"{block.where}: {type(e).__name__}: {e}")
                continue
            raise AssertionError(f"{block.where} raised {type(e).__name__}: {e}") from e
        printed = out.getvalue()
        if block.output is None:
            if printed.strip():
                problems.append(
                    f"{block.where} prints\n{printed}but the page shows no ```text "
                    "block after it"
                )
            continue
        why = compare(block, printed)
        if why:
            problems.append(
                f"{block.where}: {why}\n--- page shows:\n{block.output}\n"
                f"--- printed:\n{printed}"
            )
    for t in tolerated:
        print(f"tolerated (no marker yet): {t}")
    assert not problems, "\n\n".join(problems)


def run_in_private_net(page):
    """This test for ``page``, run by pytest in a private network namespace."""
    pytest.importorskip("ray")
    prefix = private_net.prefix()
    if isinstance(prefix, str):
        pytest.skip(prefix)
    test_id = f"{Path(__file__).name}::test_page_examples_run_and_print_what_is_shown"
    proc = subprocess.run(
        [
            *prefix,
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"{test_id}[{page}]",
        ],
        cwd=Path(__file__).parent,
        env=private_net.environment(),
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"{page} in a private network:\n{proc.stdout[-6000:]}"


def test_package_description_links_are_absolute():
    """The package index shows pyproject's readme out of the repository's context, so
    its links must not be relative (README.md's are)."""
    import tomllib

    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    text = (ROOT / readme).read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets, "expected at least one link"
    relative = [t for t in targets if not re.match(r"https?://", t)]
    assert not relative, f"{readme} links relatively to {relative}"


def test_compare_rules():
    b = Block("x.md", 1, "python", "", [])
    b.output = "(1000, 2) loss 0.0123\nTrue"
    assert compare(b, "(1000, 2)  loss 0.01231\nTrue\n") is None
    assert compare(b, "(1000, 3) loss 0.0123\nTrue") is not None
    assert compare(b, "(1000, 2) loss 0.0200\nTrue") is not None
    assert compare(b, "(1000, 2) loss 0.0123\nFalse") is not None
    b.markers = ["numbers vary (timing)"]
    assert compare(b, "(1, 2) loss 9.9\nTrue") is None


if os.environ.get("DOCS_TEST_LIST"):  # DOCS_TEST_LIST=1 pytest -s: what runs where
    for _page, _blocks in ALL_BLOCKS.items():
        for _b in _blocks:
            print(_b.where, _b.markers or "", "output" if _b.output else "")
