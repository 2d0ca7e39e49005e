"""Render the API reference (Markdown) from the spec with jinja2: ``make docs``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jinja2 import Environment, FileSystemLoader

from gateway.server.spec import load_spec, operations, split_path_key, unsupported_subresources

HERE = Path(__file__).resolve().parent


def _resolve(spec: dict, p: dict) -> dict:
    if "$ref" in p:
        return spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
    return p


def model() -> dict:
    spec = load_spec()
    ops = []
    for op in sorted(operations(), key=lambda o: (o.resource != "service", o.spec_path, o.method)):
        item = spec["paths"][op.spec_path]
        detail = item[op.method.lower()]
        template, query, header = split_path_key(op.spec_path)
        params = [_resolve(spec, p) for p in item.get("parameters", []) + detail.get("parameters", [])]
        route = template + ("?" + "&".join(k if v is None else f"{k}={v}" for k, v in query.items())
                            if query else "")
        ops.append({
            "name": op.name, "method": op.method, "route": route, "header": header,
            "summary": detail.get("summary", ""), "handler": op.operation_id,
            "params": params, "errors": detail.get("x-s3-errors", []),
            "statuses": [s for s in detail.get("responses", {}) if s != "default"],
        })
    return {"info": spec["info"], "operations": ops, "unsupported": sorted(unsupported_subresources())}


def render() -> str:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    return env.get_template("api.md.j2").render(**model())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=HERE.parent / "docs" / "api" / "index.md")
    args = ap.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render())
    print(f"gen_docs: wrote {args.out} ({len(operations())} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
