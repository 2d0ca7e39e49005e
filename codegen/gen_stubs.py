"""Build the PFS gRPC stubs in ``generated/`` from Pachyderm's own protocol definitions.

Two sources are accepted:

* the default: ``python-pachyderm==7.6.0`` from PyPI (pinned, hash-checked). Its ``*_pb2.py``
  files embed each ``.proto`` file's serialized ``FileDescriptorProto``; we read those bytes
  out with :mod:`ast` (the package pins protobuf<4, so it is never imported or installed);
* ``--proto-src DIR``: a Pachyderm source tree's ``src/`` holding the ``.proto`` files, for
  users who build against a newer Pachyderm.

Either way we assemble a ``FileDescriptorSet`` for ``pfs``, ``auth``, ``versionpb`` and what
they import, rename the files under ``generated/`` (so the stubs import as
``generated.pfs.pfs_pb2``) and run ``grpc_tools.protoc --descriptor_set_in``. pfsd's own
extensions (``codegen/proto/pfsd/*.proto``, importing ``pfs/pfs.proto``) are compiled along
with them into ``generated.pfsd``.
The run is skipped when the inputs are unchanged (a stamp file records their digest).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from google.protobuf import descriptor_pb2

WHEEL = "python_pachyderm-7.6.0-py3-none-any.whl"
WHEEL_REQ = (
    "python-pachyderm==7.6.0 "
    "--hash=sha256:b4e5919159e2dd357998325e997a23b5ac37d3c569d97bf926ede5902efaa224"
)
WHEEL_PREFIX = "python_pachyderm/proto/v2/"
# The protocol files the gateway and the embedded server use; their imports come along.
ROOTS = ["pfs/pfs.proto", "auth/auth.proto", "version/versionpb/version.proto"]
# pfsd's own extensions (docs/pfsd.md), compiled against Pachyderm's files above.
EXTENSIONS_DIR = Path(__file__).resolve().parent / "proto"
EXTENSIONS = ["pfsd/pages.proto"]
OUT_PACKAGE = "generated"
GENERATOR_VERSION = "2"  # bump when this script's output changes


def _serialized_pb(source: str) -> bytes | None:
    """The ``serialized_pb=b'...'`` literal of an old-style ``_pb2.py`` file, if any."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "serialized_pb" and isinstance(kw.value, ast.Constant):
                    return kw.value.value
    return None


def descriptors_from_wheel(wheel: Path) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """Every Pachyderm proto file in the wheel, keyed by its original path (``pfs/pfs.proto``)."""
    files = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not (name.startswith(WHEEL_PREFIX) and name.endswith("_pb2.py")):
                continue
            raw = _serialized_pb(zf.read(name).decode())
            if raw is None:
                continue
            fdp = descriptor_pb2.FileDescriptorProto.FromString(raw)
            fdp.name = fdp.name.removeprefix(WHEEL_PREFIX)
            deps = [d.removeprefix(WHEEL_PREFIX) for d in fdp.dependency]
            del fdp.dependency[:]
            fdp.dependency.extend(deps)
            files[fdp.name] = fdp
    return files


def descriptors_from_source(src: Path) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """Compile the root ``.proto`` files of a Pachyderm ``src/`` tree to descriptors."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{src}", f"-I{_protoc_include()}",
               "--include_imports", f"--descriptor_set_out={out}", *ROOTS]
        subprocess.run(cmd, check=True)
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return {f.name: f for f in fds.file}


def add_extensions(files: dict[str, descriptor_pb2.FileDescriptorProto]) -> None:
    """Compile :data:`EXTENSIONS` (imports resolved from ``files``) and add them to ``files``."""
    with tempfile.TemporaryDirectory() as tmp:
        given, out = Path(tmp) / "given.pb", Path(tmp) / "ext.pb"
        given.write_bytes(descriptor_pb2.FileDescriptorSet(file=closure(files)).SerializeToString())
        cmd = [sys.executable, "-m", "grpc_tools.protoc", f"--descriptor_set_in={given}",
               f"-I{EXTENSIONS_DIR}", f"--descriptor_set_out={out}", *EXTENSIONS]
        subprocess.run(cmd, check=True)
        for f in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
            files[f.name] = f


def _protoc_include() -> str:
    import grpc_tools

    return str(Path(grpc_tools.__file__).parent / "_proto")


def closure(files: dict[str, descriptor_pb2.FileDescriptorProto]) -> list[descriptor_pb2.FileDescriptorProto]:
    """The roots and their Pachyderm imports, dependencies first (protoc wants that order)."""
    ordered: list[descriptor_pb2.FileDescriptorProto] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in files:  # google/protobuf/* come from protobuf itself
            return
        seen.add(name)
        for dep in files[name].dependency:
            visit(dep)
        ordered.append(files[name])

    for root in ROOTS:
        if root not in files:
            raise SystemExit(f"gen_stubs: {root} not found in the input")
        visit(root)
    for ext in EXTENSIONS:
        visit(ext)
    return ordered


def relocate(fdps: list[descriptor_pb2.FileDescriptorProto]) -> descriptor_pb2.FileDescriptorSet:
    """Rename Pachyderm's files under ``generated/``; package names (``pfs_v2``) stay as they are."""
    ours = {f.name for f in fdps}
    fds = descriptor_pb2.FileDescriptorSet()
    for f in fdps:
        g = fds.file.add()
        g.CopyFrom(f)
        g.name = f"{OUT_PACKAGE}/{f.name}"
        deps = [f"{OUT_PACKAGE}/{d}" if d in ours else d for d in f.dependency]
        del g.dependency[:]
        g.dependency.extend(deps)
    return fds


def fetch_wheel(cache: Path) -> Path:
    """Download the pinned wheel with pip (hash-checked) unless it is already cached."""
    wheel = cache / WHEEL
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        req = cache / "requirements.txt"
        req.write_text(WHEEL_REQ + "\n")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--require-hashes", "-r", str(req), "-d", str(cache)], check=True)
    return wheel


def generate(fds: descriptor_pb2.FileDescriptorSet, root: Path) -> None:
    """Run protoc over the descriptor set into ``root`` (the repository root)."""
    out = root / OUT_PACKAGE
    with tempfile.TemporaryDirectory() as tmp:
        set_path = Path(tmp) / "pachyderm.pb"
        set_path.write_bytes(fds.SerializeToString())
        names = [f.name for f in fds.file]
        cmd = [sys.executable, "-m", "grpc_tools.protoc", f"--descriptor_set_in={set_path}",
               f"--python_out={root}", f"--pyi_out={root}", f"--grpc_python_out={root}", *names]
        subprocess.run(cmd, check=True)
    for d in [out, *(p for p in out.rglob("*") if p.is_dir())]:
        (d / "__init__.py").touch()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--proto-src", type=Path, help="a Pachyderm source tree's src/ directory")
    ap.add_argument("--cache", type=Path, help="where the downloaded wheel is kept")
    args = ap.parse_args(argv)
    root: Path = args.root
    cache = args.cache or root / ".cache"

    if args.proto_src:
        files = descriptors_from_source(args.proto_src)
    else:
        files = descriptors_from_wheel(fetch_wheel(cache))
    add_extensions(files)
    fds = relocate(closure(files))

    digest = hashlib.sha256(fds.SerializeToString() + GENERATOR_VERSION.encode()).hexdigest()
    stamp = root / OUT_PACKAGE / ".stamp"
    if stamp.exists() and stamp.read_text() == digest:
        print("gen_stubs: generated/ is up to date")
        return 0
    generate(fds, root)
    stamp.write_text(digest)
    print(f"gen_stubs: wrote {len(fds.file)} protocol files into {OUT_PACKAGE}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
