"""docs/architecture.md matches the code: every path and module it names exists.

A backticked token in the document is checked when it is a repository path (its first part is
a top-level entry of the repository: ``gateway/ops/body.py``, ``pfsd/store/``) or a dotted name
in one of the project's packages (``gateway.pfs.client.FileReader``, ``handlers.objects.put_object``):
the file or directory must exist, the module must import and the attribute must be defined.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("gateway", "handlers", "pfsd", "codegen", "generated")
DOTTED = re.compile(rf"(?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_]\w*)+")
PATHLIKE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]*")
# Named in the document but made by a command, not committed: checked by how they are made.
MADE = {"docs/api/index.md": "make docs", "generated/": "make gen"}
# Files of pfsd's data directory (not of the repository) that look like module names.
DATA_DIR_FILES = {"pfsd.sock", "pfsd.lock"}


def tokens() -> list[str]:
    """Every word of every backticked span and fenced block, trailing ``()`` and punctuation
    dropped."""
    text = DOC.read_text()
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))
    out = []
    for span in [*fenced, *inline]:
        for word in span.split():
            out.append(word.removesuffix("()").rstrip(",.:;"))
    return out


def named_paths() -> set[str]:
    top = {p.name for p in ROOT.iterdir()} | {"generated"}
    return {t for t in tokens() if PATHLIKE.fullmatch(t) and "<" not in t and t.split("/")[0] in top}


def named_modules() -> set[str]:
    return {t for t in tokens() if DOTTED.fullmatch(t) and t not in DATA_DIR_FILES}


def resolve(dotted: str) -> object:
    """Import the longest module prefix of ``dotted``; the rest are attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        base = ROOT.joinpath(*parts[:i])
        if base.with_suffix(".py").exists() or (base / "__init__.py").exists():
            obj = importlib.import_module(name)
            for attr in parts[i:]:
                obj = getattr(obj, attr)
            return obj
    raise AssertionError(f"{dotted}: no such module")


def test_every_path_named_exists() -> None:
    paths = named_paths()
    assert len(paths) > 20  # the document does name the tree
    missing = []
    for p in sorted(paths):
        if p in MADE:
            continue
        target = ROOT / p
        if not (target.is_dir() if p.endswith("/") else target.exists()):
            missing.append(p)
    assert not missing, missing


def test_every_module_and_name_named_exists() -> None:
    modules = named_modules()
    assert len(modules) > 20
    missing = []
    for name in sorted(modules):
        try:
            resolve(name)
        except (AssertionError, AttributeError, ImportError) as e:
            missing.append(f"{name}: {e}")
    assert not missing, missing


def test_every_gateway_subpackage_and_the_layout_test_are_described() -> None:
    """A new part of the tree shows up here until the document describes it."""
    text = DOC.read_text()
    subpackages = [p.parent.name for p in (ROOT / "gateway").glob("*/__init__.py")]
    assert len(subpackages) >= 3
    for name in subpackages:
        assert f"`gateway/{name}/`" in text, name
    for module in (ROOT / "gateway").glob("*.py"):
        if module.name not in ("__init__.py", "__main__.py"):
            assert f"gateway/{module.name}" in text, module.name
    assert "`tests/test_layout.py`" in text and "`spec/openapi.yaml`" in text


def test_things_made_by_commands_are_made_where_named() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "codegen.gen_docs" in makefile and "codegen.gen_stubs" in makefile
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "/docs/api/" in ignored and "/generated/" in ignored
    assert (ROOT / "generated" / "pfs" / "pfs_pb2.py").exists()  # make test runs make gen first


def test_the_tree_table_states_the_import_directions_tests_layout_enforces() -> None:
    """The "may import" column says what tests/test_layout.py allows, part for part."""
    from tests.test_layout import ALLOWED

    checked = 0
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"`(gateway/\w+/|handlers/|pfsd/)`", cells[0]):
            continue
        part = cells[0].strip("`/").replace("/", ".")
        if part not in ALLOWED or "everything" in cells[2]:
            continue
        stated = set(re.findall(r"`([\w.]+)`", cells[2]))
        assert stated == ALLOWED[part], (part, stated, ALLOWED[part])
        checked += 1
    assert checked >= 6
