"""The layers of lms_bridge (the .importlinter contracts) hold, and the contracts cover the product.

CI runs `lint-imports` too; this test makes a local `pytest` catch an import that breaks a layer,
a cycle, or a product module importing a sandbox.
"""

from __future__ import annotations

import configparser
import contextlib
import io
from pathlib import Path

import grimp
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"
# The top of the program, which may start and serve sandboxes, and the sandboxes themselves.
TOP = ("lms_bridge.__main__", "lms_bridge.cli", "lms_bridge.demo", "lms_bridge.sandbox")
SANDBOXES = ("lms_bridge.google.sandbox", "lms_bridge.moodle.sandbox")
# Packages holding both product modules and a sandbox: their own __init__ is docstring only.
MIXED = ("lms_bridge.google", "lms_bridge.moodle")


def _contract(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    return parser[f"importlinter:contract:{name}"]


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_import_contracts_are_kept() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = lint_imports(config_filename=str(CONFIG), no_cache=True, no_logo=True)
    assert code == 0, out.getvalue()
    assert " 0 broken" in out.getvalue(), out.getvalue()


def test_every_product_module_is_in_the_layers_and_may_not_import_a_sandbox() -> None:
    graph = grimp.build_graph("lms_bridge", cache_dir=None)
    modules = sorted(m for m in graph.modules if m != "lms_bridge")
    layers = [part.strip() for line in _lines(_contract("layers")["layers"]) for part in line.split("|")]
    unlayered = [m for m in modules if not any(_within(m, layer) for layer in layers)]
    assert unlayered == [], "add these modules to a layer in .importlinter"

    sources = _lines(_contract("no-sandbox-in-product")["source_modules"])
    product = [m for m in modules
               if not any(_within(m, top) for top in (*TOP, *SANDBOXES)) and m not in MIXED]
    uncovered = [m for m in product if not any(_within(m, source) for source in sources)]
    assert uncovered == [], "add these modules to no-sandbox-in-product's source_modules in .importlinter"
    for package in MIXED:
        assert graph.find_modules_directly_imported_by(package) == set(), package
