"""MkDocs hook: put MathJax into the site from a Python package, so formulas render without a network.

The `django-static-mathjax` wheel (in the `docs` extra; plain static files, Django is not needed) ships MathJax 3.
This hook adds its browser build to the site under `javascripts/mathjax/`, where `mkdocs.yml` loads it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

SITE_FOLDER = "javascripts/mathjax"
PACKAGE = "django-static-mathjax"
# The combined TeX/MathML -> CommonHTML component mkdocs.yml loads, plus what it fetches lazily: TeX extensions
# (autoload), fonts, and the menu's accessibility and speech modules. The other builds and the SVG output are left out
# (7 MB of es5's 24 MB are copied).
BUNDLE = ["tex-mml-chtml.js", "input/tex/extensions", "input/mml", "output/chtml", "ui", "a11y", "sre"]


def mathjax_root() -> Path:
    """The installed MathJax distribution (`es5/` builds, `LICENSE`), or a PluginError saying how to install it."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise PluginError(f"The docs bundle MathJax from the {PACKAGE} package, which is not installed. "
                          f"Install the docs extra: pip install '.[docs]' (or pip install '{PACKAGE}>=3.2,<4').")
    root = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"
    missing = [name for name in ["LICENSE", *(f"es5/{name}" for name in BUNDLE)] if not (root / name).exists()]
    if missing:
        raise PluginError(f"The installed mathjax package at {root} lacks {', '.join(missing)}; "
                          f"reinstall it with pip install --force-reinstall '{PACKAGE}>=3.2,<4'.")
    return root


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = mathjax_root()
    es5 = root / "es5"
    bundled = {"LICENSE": root / "LICENSE"}
    for name in BUNDLE:
        path = es5 / name
        for source in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if source.is_file():
                bundled[source.relative_to(es5).as_posix()] = source
    for relative, source in bundled.items():
        files.append(File.generated(config, f"{SITE_FOLDER}/{relative}", abs_src_path=str(source)))
    return files
