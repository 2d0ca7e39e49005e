"""The tree shows the architecture, and imports point one way.

Every ``import`` statement in the project's packages (module level and inside functions) is
read with ``ast`` and checked against the allowed directions below; a new subpackage or a new
top-level module of ``gateway`` must be named here on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The parts of the project (a part is a package, or a subpackage of gateway, or a top-level
# module of gateway) and the parts each may import. Third-party and standard modules are free.
ALLOWED: dict[str, set[str]] = {
    "gateway.s3": {"gateway.lean", "gateway.metrics"},
    "gateway.auth": {"gateway.s3", "generated"},  # generated.auth: pachd's WhoAmI
    "gateway.pfs": {"gateway.s3", "gateway.metrics", "generated"},
    # (gateway.context: the process's PFS client, for bucketconfig.load(bucket) used by many)
    "gateway.ops": {"gateway.s3", "gateway.auth", "gateway.pfs", "gateway.context", "generated"},
    "gateway.explorer": {"gateway.s3", "gateway.auth", "gateway.pfs", "gateway.ops", "gateway.context", "generated"},
    "gateway.server": {
        "gateway.s3", "gateway.auth", "gateway.pfs", "gateway.ops", "gateway.explorer",
        "gateway.context", "gateway.lean", "gateway.metrics", "generated",
        "pfsd",  # gateway.server.inproc hosts pfsd's servicers in the gateway process
    },
    "gateway.context": {"gateway.pfs"},
    "gateway.lean": set(),
    "gateway.metrics": set(),
    "gateway.__main__": {"gateway.server", "gateway.auth", "gateway.lean"},
    "handlers": {"gateway.s3", "gateway.pfs", "gateway.ops", "gateway.context", "generated"},
    "pfsd": {"generated"},
    "codegen": {"gateway.server", "handlers"},  # check_spec: operationIds 1:1 with handlers
}
PACKAGES = ("gateway", "handlers", "pfsd", "codegen")
GATEWAY_SUBPACKAGES = {"s3", "auth", "pfs", "ops", "explorer", "server"}


def part_of(module: str) -> str | None:
    """The part a dotted module name belongs to (None: outside the project)."""
    bits = module.split(".")
    if bits[0] == "gateway" and len(bits) > 1:
        return ".".join(bits[:2])
    if bits[0] in ("handlers", "pfsd", "codegen", "generated", "tests", "bench"):
        return bits[0]
    return "gateway" if bits[0] == "gateway" else None


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import in a file; ``from a import b`` gives ``a.b``
    when ``a.b`` is a module of ours, so ``from gateway import context`` counts as context."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    here = module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = here.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for alias in node.names:
                full = f"{mod}.{alias.name}"
                is_module = (ROOT / Path(*full.split("."))).with_suffix(".py").exists() or (
                    ROOT / Path(*full.split(".")) / "__init__.py"
                ).exists()
                found.append((node.lineno, full if is_module else mod))
    return found


def project_files() -> list[Path]:
    return [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def test_gateway_top_level_is_small_and_grouped():
    top = sorted(p.name for p in (ROOT / "gateway").glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(top) <= 12, top
    subpackages = {p.parent.name for p in (ROOT / "gateway").glob("*/__init__.py")}
    assert subpackages == GATEWAY_SUBPACKAGES, "a new gateway subpackage must be given its place in ALLOWED"
    for name in top:
        assert f"gateway.{name[:-3]}" in ALLOWED, f"gateway/{name} has no place in ALLOWED"


@pytest.mark.parametrize("sub", sorted(GATEWAY_SUBPACKAGES))
def test_each_subpackage_says_what_it_holds_and_may_import(sub):
    doc = ast.get_docstring(ast.parse((ROOT / "gateway" / sub / "__init__.py").read_text()))
    assert doc and "May import" in doc, f"gateway/{sub}/__init__.py needs a docstring with 'May import'"


def test_imports_point_one_way():
    bad = []
    for path in project_files():
        here = part_of(module_name(path))
        if here == "gateway":
            continue  # gateway/__init__.py
        allowed = ALLOWED[here] | {here}
        for line, mod in imports_of(path):
            there = part_of(mod)
            if there is None or there == "gateway" and mod == "gateway":
                continue
            if there not in allowed:
                bad.append(f"{path.relative_to(ROOT)}:{line} ({here}) imports {mod}")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_a_bad_import(tmp_path, monkeypatch):
    """The checker itself can fail: an s3 module that imports the server is reported."""
    fake = ROOT / "gateway" / "s3" / "_layout_probe.py"
    fake.write_text("from gateway.server import app\nfrom gateway import context\n")
    try:
        found = imports_of(fake)
        assert (1, "gateway.server.app") in found and (2, "gateway.context") in found
        assert part_of("gateway.server.app") not in ALLOWED["gateway.s3"]
        assert part_of("gateway.context") not in ALLOWED["gateway.s3"]
    finally:
        fake.unlink()
