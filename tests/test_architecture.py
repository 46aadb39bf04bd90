"""The layout is the map: each package imports only the stages below it (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

QA = Path(__file__).resolve().parent.parent / "qa"
FOUNDATION = {"records", "errors", "settings", "atomic_files", "text", "lexicon"}
# What each part of qa may import besides the foundation (and itself). Keep in step with
# docs/architecture.md.
ALLOWED = {
    "foundation": FOUNDATION,
    "ingest": set(),
    "models": set(),
    "store": {"ingest", "models"},
    "search": {"ingest", "models", "store"},
    "answer": {"ingest"},
    "api": {"ingest", "models", "store", "search", "answer"},
    "eval": {"ingest", "models", "store", "search", "answer", "api"},
    "ui": {"ingest", "models", "answer", "api"},
    "cli": {"ingest", "models", "store", "search", "answer", "api", "eval", "ui"},
    "testing": {"models", "answer"},
    "package": {"api"},
    "__main__": {"cli"},
}
TOP_LEVEL_LIMIT = 12


def _part(module: str) -> str:
    """The part of qa a dotted module name belongs to."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else ""
    if name in FOUNDATION:
        return "foundation"
    return name or "package"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qa":
            if node.module == "qa":
                names |= {f"qa.{alias.name}" for alias in node.names}
            else:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names if alias.name.split(".")[0] == "qa"}
    return names


def test_each_part_imports_only_the_stages_below_it():
    wrong = []
    for path in sorted(QA.rglob("*.py")):
        module = ".".join(path.relative_to(QA.parent).with_suffix("").parts).removesuffix(".__init__")
        part = _part(module)
        allowed = ALLOWED[part] | {part, "foundation"}
        wrong += [f"{module} imports {target}" for target in sorted(_imports(path))
                  if _part(target) not in allowed]
    assert wrong == []


def test_the_top_level_stays_small_and_every_package_is_on_the_map():
    modules = sorted(p.stem for p in QA.glob("*.py"))
    assert len(modules) <= TOP_LEVEL_LIMIT, modules
    packages = {p.name for p in QA.iterdir() if (p / "__init__.py").exists()}
    assert packages <= set(ALLOWED), packages - set(ALLOWED)
    doc = (QA.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in packages:
        assert f"`qa/{name}/`" in doc, name


def test_the_checker_sees_an_upward_import(tmp_path):
    """A stage that imports a later one is caught (the rule above can fail)."""
    bad = tmp_path / "bad.py"
    bad.write_text("from qa.api import ask\n", encoding="utf-8")
    assert "api" not in ALLOWED["ingest"] and _part(next(iter(_imports(bad)))) == "api"
