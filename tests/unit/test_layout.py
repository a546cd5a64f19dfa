"""The layout the folders promise: web/ modules import cleanly on their own (no import cycle), and web/
holds adapters only, with no reaching through a node object."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import livecart

PACKAGE = Path(livecart.__file__).parent
WEB_MODULES = sorted(p.stem for p in (PACKAGE / "web").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("module", WEB_MODULES)
def test_each_web_module_imports_on_its_own(module: str) -> None:
    # A fresh interpreter per module: an import cycle shows up as an ImportError for whichever module of
    # the cycle is imported first, so each one is tried first once.
    subprocess.run([sys.executable, "-c", f"import livecart.web.{module}"], check=True)


@pytest.mark.parametrize("module", WEB_MODULES)
def test_web_modules_have_no_function_local_imports_and_no_node(module: str) -> None:
    tree = ast.parse((PACKAGE / "web" / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
            assert not inner, f"{module}.{node.name} imports inside a function (an import cycle dodged?)"
        if isinstance(node, ast.ImportFrom):
            assert node.module != "livecart.node", f"web/{module}.py imports the composition root"
