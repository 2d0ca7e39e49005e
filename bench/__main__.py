"""``python -m bench [--quick] [--only gateway,pfsd,multipart]``: run the benchmarks, print a
summary table per section and write every figure to ``bench/results/<timestamp>.json``.

Each section is a module with ``run(quick: bool = False) -> dict`` (and optionally
``table(results) -> str``). A section whose module is missing is skipped with a note; a section
that fails is reported and the others still run (exit status 1).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = {"pfsd": "bench.pfsd", "gateway": "bench.gateway", "multipart": "bench.multipart_rss"}


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def generic_table(results: dict) -> str:
    rows = [f"{'metric':<40} {'value':>14}", "-" * 55]
    for k, v in _flat(results).items():
        value = f"{v:>14.2f}" if isinstance(v, float) else f"{v!s:>14}"
        rows.append(f"{k:<40} {value}")
    return "\n".join(rows)


def machine() -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                capture_output=True, timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=ROOT, text=True, capture_output=True,
                                    timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    return {"host": platform.node(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "loadavg": os.getloadavg(),
            "commit": commit + ("+dirty" if dirty else "")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small counts and short runs (smoke use)")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated sections (default: {','.join(SECTIONS)})")
    args = ap.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every section stops the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    wanted = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in SECTIONS]
    if unknown:
        ap.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")

    report: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "quick": args.quick,
                    "machine": machine(), "sections": {}}
    failed = False
    for name in wanted:
        try:
            module = importlib.import_module(SECTIONS[name])
        except ModuleNotFoundError as e:
            if e.name != SECTIONS[name]:
                raise
            print(f"\n== {name}: skipped ({SECTIONS[name]} does not exist yet)")
            report["sections"][name] = {"skipped": "module missing"}
            continue
        print(f"\n== {name} ({'quick' if args.quick else 'full'}) ...", flush=True)
        t0 = time.perf_counter()
        try:
            results = module.run(args.quick)
        except Exception:  # one broken section must not hide the others' figures
            failed = True
            trace = traceback.format_exc()
            print(trace, file=sys.stderr)
            report["sections"][name] = {"error": trace.strip().splitlines()[-1]}
            continue
        took = time.perf_counter() - t0
        report["sections"][name] = {"seconds": round(took, 1), "loadavg_after": os.getloadavg(),
                                    "results": results}
        render = getattr(module, "table", generic_table)
        print(render(results))
        print(f"({name}: {took:.0f} s)", flush=True)

    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{time.strftime('%Y%m%d-%H%M%S')}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nresults written to {path.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
