"""The spec, loaded once: the OpenAPI document and the S3 operation table read from it.

Path keys spell S3's selectors the way the AWS API reference does (see the spec's
description): ``/{Bucket}/{Key}?partNumber&uploadId#x-amz-copy-source`` is the template
``/{Bucket}/{Key}``, the query keys ``partNumber`` and ``uploadId``, and the header
``x-amz-copy-source``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl

import yaml

SPEC_PATH = Path(__file__).resolve().parents[2] / "spec" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "head")


@dataclass(frozen=True)
class Operation:
    """One S3 operation as the spec declares it."""

    name: str  # S3's name, e.g. "ListObjectsV2"
    operation_id: str  # the handler, e.g. "handlers.buckets.list_objects_v2"
    method: str  # upper case
    spec_path: str  # the path key in the spec, selectors included
    resource: str  # "service", "bucket" or "object"
    query: dict[str, str | None] = field(default_factory=dict)  # key -> required value or None
    header: str | None = None  # a header that must be present
    params: frozenset[str] = frozenset()  # declared query parameter names

    @property
    def specificity(self) -> int:
        return specificity(self.spec_path)


def split_path_key(key: str) -> tuple[str, dict[str, str | None], str | None]:
    """``/{Bucket}?list-type=2#h`` -> (``/{Bucket}``, ``{"list-type": "2"}``, ``"h"``)."""
    rest, _, header = key.partition("#")
    template, _, query = rest.partition("?")
    selectors: dict[str, str | None] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        selectors[k] = v or None
    return template, selectors, header.lower() or None


def _resource(template: str) -> str:
    if template == "/":
        return "service"
    return "object" if "{Key}" in template else "bucket"


@cache
def load_spec() -> dict:
    """The OpenAPI document as a dict (parsed once per process)."""
    with SPEC_PATH.open() as f:
        return yaml.safe_load(f)


def _query_params(spec: dict, *param_lists: list) -> frozenset[str]:
    names = set()
    for params in param_lists:
        for p in params or []:
            if "$ref" in p:
                p = spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
            if p.get("in") == "query":
                names.add(p["name"])
    return frozenset(names)


@cache
def operations() -> tuple[Operation, ...]:
    """Every operation in the spec, most specific selectors first."""
    spec = load_spec()
    ops = []
    for key, item in spec["paths"].items():
        template, query, header = split_path_key(key)
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            ops.append(Operation(
                name=op["x-s3-operation"],
                operation_id=op["operationId"],
                method=method.upper(),
                spec_path=key,
                resource=_resource(template),
                query=query,
                header=header,
                params=_query_params(spec, item.get("parameters"), op.get("parameters")),
            ))
    return tuple(sorted(ops, key=lambda o: -o.specificity))


def unsupported_subresources() -> frozenset[str]:
    return frozenset(load_spec().get("x-s3-unsupported-subresources", []))


def ordered_spec() -> dict:
    """The spec with its paths ordered most specific first.

    The router tries routes in order, and ``/{Bucket}/{Key}`` would also match the forwarded
    path ``/b/k?uploadId`` (``Key`` takes any characters); ordering by selector count makes
    every forwarded path meet its own route first.
    """
    spec = dict(load_spec())
    paths = sorted(spec["paths"].items(), key=lambda kv: -specificity(kv[0]))
    spec["paths"] = {key: _own_parameters(spec, item) for key, item in paths}
    return spec


def _own_parameters(spec: dict, item: dict) -> dict:
    """The path item with its shared parameters copied into each of its operations.

    The same parameters, declared where connexion 3.3 handles them right: it appends a path
    item's parameters to its operation's own list in place, once for every middleware that
    reads the spec, so each request validated ``Bucket`` and ``Key`` four times over.
    """
    shared = item.get("parameters")
    if not shared:
        return item
    out = {k: v for k, v in item.items() if k != "parameters"}
    for method in METHODS:
        if method in item:
            own = item[method].get("parameters") or []
            declared = {_param_id(spec, p) for p in own}
            merged = own + [p for p in shared if _param_id(spec, p) not in declared]
            out[method] = {**item[method], "parameters": merged}
    return out


def _param_id(spec: dict, param: dict) -> tuple[str, str]:
    """(in, name): what identifies a parameter, an operation's overriding its path item's."""
    if "$ref" in param:
        param = spec["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
    return param["in"], param["name"]


def specificity(key: str) -> int:
    """How many selectors a path key carries."""
    _, query, header = split_path_key(key)
    return len(query) + (1 if header else 0)
