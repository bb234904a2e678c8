"""The documentation site builds strictly and renders offline: formulas, API examples and the CLI page.

The build test runs `mkdocs build --strict` into a temporary folder and reads the HTML as a browser would get it: no
TeX outside the elements the bundled MathJax typesets, MathJax served from the site itself (no CDN), API examples as
highlighted code rather than nested blockquotes. It skips when the `docs` extra is not installed.
"""

from __future__ import annotations

import html.parser
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MATHJAX = "javascripts/mathjax/tex-mml-chtml.js"
# TeX a reader would see as source: delimiters, or a command such as \frac, \mathrm, \lVert.
RAW_TEX = re.compile(r"\$\$|\\[()\[\]]|\\[A-Za-z]+")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_NOT_PROSE = {"pre", "code", "script", "style", "textarea", "svg"}


class _PageScan(html.parser.HTMLParser):
    """What a reader of one page sees: prose text (outside code and math), nesting, scripts and styles."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, hides its text from the prose)
        self.prose: list[str] = []
        self.blockquote_depth = self.max_blockquote_depth = 0
        self.math_elements = 0
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.prompts_highlighted = 0  # ">>> " prompts inside a highlighted code block
        self._in_prompt_span = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        if tag == "link" and "stylesheet" in (attrs.get("rel") or ""):
            self.stylesheets.append(attrs.get("href", ""))
        if tag == "span" and "gp" in classes and any(t == "pre" for t, _ in self.stack):
            self._in_prompt_span = True
        if tag in _VOID:
            return
        if tag == "blockquote":
            self.blockquote_depth += 1
            self.max_blockquote_depth = max(self.max_blockquote_depth, self.blockquote_depth)
        math = "arithmatex" in classes
        self.math_elements += math
        self.stack.append((tag, math or tag in _NOT_PROSE))

    def handle_endtag(self, tag):
        if tag in _VOID or all(open_tag != tag for open_tag, _ in self.stack):
            return  # a stray end tag closes nothing
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == "blockquote":
                self.blockquote_depth -= 1
            if open_tag == tag:
                break
        if tag == "span":
            self._in_prompt_span = False

    def handle_data(self, data):
        if self._in_prompt_span and data.startswith(">>>"):
            self.prompts_highlighted += 1
        if not any(hidden for _, hidden in self.stack):
            self.prose.append(data)


def _scan(page: pathlib.Path) -> _PageScan:
    scan = _PageScan()
    scan.feed(page.read_text(encoding="utf-8"))
    scan.close()
    return scan


def test_cli_page_table_lists_every_command():
    from kerascl.cli import main

    table = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8").split("## Reference")[0]
    listed = set(re.findall(r"^\| `kerascl ([a-z-]+)", table, flags=re.M))
    assert listed == set(main.commands), (
        f"docs/cli.md's command table lists {sorted(listed)}; the CLI has {sorted(main.commands)}")


def test_page_scan_finds_what_the_build_test_rejects():
    """The scanner itself: raw TeX, nested blockquotes, unhighlighted prompts and math are all seen."""
    scan = _PageScan()
    scan.feed('<p>rate $$\\frac{B}{256}$$</p><blockquote><blockquote><p>&gt;&gt;&gt; x = 1</p></blockquote>'
              '</blockquote><span class="arithmatex">\\(x\\)</span><pre><code><span class="gp">&gt;&gt;&gt; </span>'
              'y</code></pre><script src="https://cdn.example/m.js"></script>')
    prose = "".join(scan.prose)
    assert RAW_TEX.findall(prose) == ["$$", "\\frac", "$$"]
    assert ">>>" in prose and scan.max_blockquote_depth == 2
    assert scan.math_elements == 1 and scan.prompts_highlighted == 1
    assert scan.scripts == ["https://cdn.example/m.js"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> pathlib.Path:
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocs_click"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed; the docs build test needs the docs extra: pip install '.[docs]'")
    site_dir = tmp_path_factory.mktemp("site")
    # mkdocs-click imports kerascl.cli: this checkout's, not another installed copy.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return site_dir


def _pages(site: pathlib.Path) -> dict[str, _PageScan]:
    pages = {str(p.relative_to(site)): _scan(p) for p in sorted(site.rglob("*.html")) if p.name != "404.html"}
    assert pages, f"no HTML pages in {site}"
    return pages


@pytest.fixture(scope="module")
def pages(site) -> dict[str, _PageScan]:
    return _pages(site)


@pytest.mark.slow
def test_no_raw_tex_and_math_is_rendered_by_the_bundled_mathjax(site, pages):
    raw = {name: sorted(set(RAW_TEX.findall("".join(scan.prose)))) for name, scan in pages.items()}
    raw = {name: found for name, found in raw.items() if found}
    assert not raw, f"TeX outside the math elements MathJax typesets (pages: TeX seen): {raw}"
    with_math = [name for name, scan in pages.items() if scan.math_elements]
    assert with_math, "no page has math elements: is pymdownx.arithmatex still in mkdocs.yml?"
    assert (site / MATHJAX).is_file(), f"{MATHJAX} is not in the site: the docs_hooks/offline_math.py hook did not run"
    assert (site / "javascripts/mathjax/output/chtml/fonts/woff-v2").is_dir(), "MathJax's fonts are not in the site"
    for name in with_math:
        page_dir = (site / name).parent
        local = [(page_dir / src).resolve() for src in pages[name].scripts if src.endswith("tex-mml-chtml.js")]
        assert local and all(path == (site / MATHJAX).resolve() for path in local), (
            f"{name} has formulas but does not load the bundled MathJax: scripts {pages[name].scripts}")


@pytest.mark.slow
def test_site_loads_nothing_from_the_network(pages):
    external = {name: [url for url in scan.scripts + scan.stylesheets if re.match(r"(https?:)?//", url)]
                for name, scan in pages.items()}
    external = {name: urls for name, urls in external.items() if urls}
    assert not external, f"pages that need a network to render: {external}"


@pytest.mark.slow
def test_api_examples_are_highlighted_code_not_nested_blockquotes(pages):
    nested = {name: scan.max_blockquote_depth for name, scan in pages.items() if scan.max_blockquote_depth > 1}
    assert not nested, f"nested blockquotes (a docstring section parsed as quoted prose?): {nested}"
    api = {name: scan for name, scan in pages.items() if name.startswith("api" + os.sep)}
    assert len(api) >= 9, f"API pages found: {sorted(api)}"
    prose_prompts = {name: "".join(scan.prose).count(">>>") for name, scan in api.items()}
    assert not any(prose_prompts.values()), f"'>>>' example lines rendered as prose: {prose_prompts}"
    highlighted = {name: scan.prompts_highlighted for name, scan in api.items()}
    assert sum(highlighted.values()) > 0, f"no highlighted '>>>' prompt on the API pages: {highlighted}"


@pytest.mark.slow
def test_cli_reference_shows_readable_defaults(site):
    """mkdocs-click renders what click holds: an unset default as `Sentinel.UNSET`, a tuple default as `('byol',)`."""
    page = site / "cli" / "index.html"
    assert page.is_file(), f"no CLI page at {page}"
    text = html.unescape(page.read_text(encoding="utf-8"))
    assert "--data-dir" in text and "--set" in text, "the CLI reference is not on the page"
    assert "Sentinel" not in text and "UNSET" not in text, "an unset click default is rendered as Sentinel.UNSET"
    assert not re.search(r"\('[A-Za-z0-9_.-]+',\)", text), "a tuple default is rendered as a Python tuple"
