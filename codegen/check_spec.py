"""Validate ``spec/openapi.yaml`` and check that spec operations and handlers match 1:1."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys

from openapi_spec_validator import validate

import handlers
from gateway.server.spec import load_spec, operations


def spec_operation_ids() -> set[str]:
    return {op.operation_id for op in operations()}


def handler_functions() -> set[str]:
    """Every public coroutine function defined in a ``handlers`` module."""
    found = set()
    for mod in pkgutil.iter_modules(handlers.__path__):
        module = importlib.import_module(f"handlers.{mod.name}")
        for name, fn in inspect.getmembers(module, inspect.iscoroutinefunction):
            if not name.startswith("_") and fn.__module__ == module.__name__:
                found.add(f"handlers.{mod.name}.{name}")
    return found


def problems() -> list[str]:
    out = []
    try:
        validate(load_spec())
    except Exception as e:  # the validator's own error types vary by version
        out.append(f"spec does not validate: {e}")
    ids, funcs = spec_operation_ids(), handler_functions()
    out += [f"spec operation without handler: {i}" for i in sorted(ids - funcs)]
    out += [f"handler without spec operation: {f}" for f in sorted(funcs - ids)]
    names = [op.name for op in operations()]
    out += [f"x-s3-operation used twice: {n}" for n in sorted({n for n in names if names.count(n) > 1})]
    return out


def main() -> int:
    found = problems()
    for p in found:
        print(p, file=sys.stderr)
    if not found:
        print(f"spec: valid, {len(operations())} operations, each with its handler")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
