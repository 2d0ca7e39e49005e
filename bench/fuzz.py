"""Spec-driven fuzzing of the live gateway with schemathesis: ``python -m bench.fuzz`` (``make fuzz``).

``spec/openapi.yaml`` spells S3 selectors into its path keys (``/{Bucket}?uploads``,
``/{Bucket}/{Key}?partNumber&uploadId#x-amz-copy-source``), which no OpenAPI tool reads as such.
:func:`rewrite` turns the spec into one small spec per path key, each with the plain path
template and the selectors as required parameters: ``?a`` a required query parameter (sent as
``a=`` unless the spec declares it), ``?a=v`` one whose only value is ``v``, ``#h`` a required
header. One spec per key, because after the rewrite several keys share a path and method
(``GET /{Bucket}`` is ListObjects, ListObjectsV2, GetBucketVersioning, ...) and one OpenAPI
document cannot hold them twice; none is dropped.

:func:`steer` then steers the identifiers towards things that exist (half of the
generated buckets are a real bucket holding a few keys, half of the keys are those keys, and
likewise a live multipart upload ID, a real commit ID, a real copy source), so that the
requests reach the handlers and PFS rather than stopping at NoSuchBucket. DeleteBucket only
ever targets spare buckets and random names, so the main bucket survives the run (the
bucket and its keys are re-created before each operation anyway).

Checks, on every response: no 5xx other than 501 NotImplemented and 503; every error
(status >= 400, except to HEAD) is an S3 XML ``<Error>`` with a ``Code`` and a ``RequestId``;
and after the run the gateway process is alive and ``/~/health`` answers 200.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from bench.common import ROOT

SPEC = ROOT / "spec" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "head", "patch", "options")
ALLOWED_5XX = frozenset({501, 503})
# C0 controls that XML 1.0 forbids even escaped (all but tab, LF, CR)
XML_ILLEGAL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
CONTROL_CHARS = "control characters in XML"  # the start of that problem's description
KEY_RE = re.compile(r"^(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?(?:#(?P<header>.*))?$")


# --- the spec rewrite ------------------------------------------------------------------------

def parse_key(key: str) -> tuple[str, list[tuple[str, str | None]], str | None]:
    """``/{Bucket}?list-type=2#h`` -> ("/{Bucket}", [("list-type", "2")], "h")."""
    m = KEY_RE.match(key)
    assert m, key
    query: list[tuple[str, str | None]] = []
    for part in filter(None, (m["query"] or "").split("&")):
        name, eq, value = part.partition("=")
        query.append((name, value if eq else None))
    return m["path"], query, (m["header"] or None)


def _resolve(spec: dict, param: dict) -> dict:
    ref = param.get("$ref")
    if not ref:
        return param
    node: Any = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def _require(spec: dict, item: dict, op: dict, name: str, where: str, value: str | None) -> None:
    """Make parameter (name, where) of `op` required, with the fixed value if one is given."""
    params = op.setdefault("parameters", [])
    found = None
    for i, p in enumerate(params):
        r = _resolve(spec, p)
        if r.get("name", "").lower() == name.lower() and r.get("in") == where:
            found = params[i] = copy.deepcopy(r)
            break
    if found is None:
        for p in item.get("parameters", []):
            r = _resolve(spec, p)
            if r.get("name", "").lower() == name.lower() and r.get("in") == where:
                found = copy.deepcopy(r)  # an operation-level copy overrides the path-level one
                params.append(found)
                break
    if found is None:
        # an undeclared valueless subresource key: send it empty, as S3 clients do (`?uploads=`)
        found = {"name": name, "in": where, "schema": {"type": "string", "enum": [""]}}
        params.append(found)
    found["required"] = True
    if value is not None:
        found["schema"] = {"type": "string", "enum": [value]}


def rewrite(spec: dict) -> dict[str, dict]:
    """One plain OpenAPI document per selector-spelling path key of `spec`, keyed by that key."""
    out: dict[str, dict] = {}
    base = {k: v for k, v in spec.items() if k != "paths"}
    for key, item in spec["paths"].items():
        path, query, header = parse_key(key)
        item = copy.deepcopy(item)
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            for name, value in query:
                _require(spec, item, op, name, "query", value)
            if header:
                _require(spec, item, op, header, "header", None)
        out[key] = {**copy.deepcopy(base), "paths": {path: item}}
    return out


@dataclass
class Seeds:
    """Real identifiers the generated requests are steered towards."""

    bucket: str
    keys: list[str]
    spare_buckets: list[str]
    upload_key: str = ""
    upload_id: str = ""
    version_id: str = ""


def steer(seeds: Seeds, operation: str):
    """A strategy transform that replaces, three times in four, each identifier a case carries
    (Bucket, Key, uploadId, versionId, x-amz-copy-source) with a real one.

    Done on the generated case rather than in the schema: an ``anyOf`` of an ``enum`` and a plain
    string is canonicalised to the plain string, and the real values would never be drawn.
    """
    from hypothesis import strategies as st

    buckets = seeds.spare_buckets if operation == "DeleteBucket" else [seeds.bucket]
    keys = [*seeds.keys, seeds.upload_key]
    sources = [f"/{seeds.bucket}/{k}" for k in seeds.keys] + [f"{seeds.bucket}/{seeds.keys[0]}"]
    real = {("path", "Bucket"): buckets, ("path", "Key"): keys,
            ("query", "uploadId"): [seeds.upload_id] if seeds.upload_id else [],
            ("query", "versionId"): [seeds.version_id] if seeds.version_id else [],
            ("header", "x-amz-copy-source"): sources}
    real = {k: v for k, v in real.items() if v}
    choice = st.integers(0, 99)
    draws = st.fixed_dictionaries({k: choice for k in real})

    def apply(pair):
        case, picks = pair
        for (where, name), pick in picks.items():
            if pick % 4 == 0:
                continue
            value = real[(where, name)][pick % len(real[(where, name)])]
            container = {"path": case.path_parameters, "query": case.query, "header": case.headers}[where]
            if container is not None and (name in container or where == "path"):
                container[name] = value
        return case

    return lambda strategy: st.tuples(strategy, draws).map(apply)


# --- running it ------------------------------------------------------------------------------

@dataclass
class Finding:
    operation: str
    status: int
    curl: str
    body: str
    request_id: str
    problem: str

    def as_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class Results:
    tried: Counter = field(default_factory=Counter)  # examples sent, by operation
    statuses: dict[str, Counter] = field(default_factory=dict)
    server_errors: list[Finding] = field(default_factory=list)  # 5xx other than 501/503
    bad_errors: list[Finding] = field(default_factory=list)  # error bodies that are not S3 <Error>
    transport_errors: list[str] = field(default_factory=list)
    crashed: str = ""

    def summary(self) -> dict:
        return {
            "examples": sum(self.tried.values()),
            "by_operation": dict(sorted(self.tried.items())),
            "statuses": {op: dict(sorted(c.items())) for op, c in sorted(self.statuses.items())},
            "server_errors_5xx": len(self.server_errors),
            "bad_error_bodies": len(self.bad_errors),
            "bad_error_kinds": dict(Counter(problem_kind(f) for f in self.bad_errors)),
            "transport_errors": len(self.transport_errors),
            "crashed": self.crashed,
        }


def error_body_problem(method: str, status: int, body: bytes) -> str:
    """Why an error response is not an S3 XML <Error> (empty when it is, or need not be)."""
    if status < 400 or method.upper() == "HEAD":
        return ""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        if XML_ILLEGAL.search(body):
            try:  # well-formed but for control characters echoed from the request
                ET.fromstring(XML_ILLEGAL.sub(b"", body))
                return f"{CONTROL_CHARS}: {body[:300]!r}"
            except ET.ParseError:
                pass
        return f"not XML ({e}): {body[:300]!r}"
    if root.tag != "Error":
        return f"root element <{root.tag}>, not <Error>"
    missing = [t for t in ("Code", "RequestId") if not (root.findtext(t) or "").strip()]
    return f"<Error> without {', '.join(missing)}" if missing else ""


def problem_kind(f: Finding) -> str:
    """A finding's class: its problem up to the first colon or parenthesis, and the element."""
    kind = re.split(r"[:(]", f.problem, maxsplit=1)[0].strip()
    return f"{kind} ({f.status})"


def make_seeds(endpoint: str, tag: str) -> Seeds:
    """Create the main bucket, its keys, spare buckets and a multipart upload."""
    s = requests.Session()
    bucket = f"master.fz{tag}"
    seeds = Seeds(bucket=bucket, keys=["k0", "dir/k1", "dir/sub/k2"],
                  spare_buckets=[f"master.fzspare{tag}", f"dev.fz{tag}"], upload_key="mp/obj")
    for b in [bucket, *seeds.spare_buckets]:
        s.put(f"{endpoint}/{b}", timeout=30)
    refill(s, endpoint, seeds)
    r = s.post(f"{endpoint}/{bucket}/{seeds.upload_key}?uploads=", timeout=30)
    m = re.search(rb"<UploadId>([^<]+)</UploadId>", r.content)
    seeds.upload_id = m.group(1).decode() if m else ""
    if seeds.upload_id:
        s.put(f"{endpoint}/{bucket}/{seeds.upload_key}?partNumber=1&uploadId={seeds.upload_id}",
              data=b"part one", timeout=30)
    return seeds


def refill(s: requests.Session, endpoint: str, seeds: Seeds) -> None:
    """Re-create the main bucket and its keys (a fuzzed DeleteObject(s) may have removed them)."""
    s.put(f"{endpoint}/{seeds.bucket}", timeout=30)
    for i, k in enumerate(seeds.keys):
        if s.head(f"{endpoint}/{seeds.bucket}/{k}", timeout=30).status_code != 200:
            r = s.put(f"{endpoint}/{seeds.bucket}/{k}", data=f"content {i}\n".encode() * (i + 1), timeout=30)
            seeds.version_id = r.headers.get("x-amz-version-id", seeds.version_id)


def alive(endpoint: str, proc=None) -> str:
    """Empty when the gateway process runs and /~/health is 200, else what is wrong."""
    if proc is not None and proc.poll() is not None:
        return f"gateway process exited with {proc.returncode}"
    try:
        r = requests.get(f"{endpoint}/~/health", timeout=10)
    except requests.RequestException as e:
        return f"/~/health: {e}"
    return "" if r.status_code == 200 else f"/~/health answered {r.status_code}: {r.text[:200]}"


def fuzz_operation(op, name: str, endpoint: str, session: requests.Session, examples: int, seed: int,
                   negative: bool, results: Results, proc=None, transform=None) -> None:
    """Send up to `examples` generated requests for one operation, recording what they got."""
    import hypothesis
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    strategies = [op.as_strategy(GenerationMode.POSITIVE)]
    if negative:
        strategies.append(op.as_strategy(GenerationMode.NEGATIVE))
    strategy = st.one_of(strategies)
    if transform is not None:
        strategy = transform(strategy)
    statuses = results.statuses.setdefault(name, Counter())

    @hypothesis.seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), verbosity=hypothesis.Verbosity.quiet)
    @hypothesis.given(case=strategy)
    def run(case):
        if results.crashed:
            return
        results.tried[name] += 1
        try:
            resp = case.call(base_url=endpoint, session=session, timeout=30, allow_redirects=False)
        except requests.RequestException as e:
            results.transport_errors.append(f"{name}: {case.as_curl_command(base_url=endpoint)}: {e!r}")
            results.crashed = alive(endpoint, proc)
            return
        statuses[resp.status_code] += 1
        finding = Finding(name, resp.status_code, case.as_curl_command(base_url=endpoint),
                          resp.content[:600].decode("utf-8", "replace"),
                          (resp.headers.get("x-amz-request-id") or [""])[0], "")
        if resp.status_code >= 500 and resp.status_code not in ALLOWED_5XX:
            results.server_errors.append(finding)
        problem = error_body_problem(case.method, resp.status_code, resp.content)
        if problem:
            finding.problem = problem
            results.bad_errors.append(finding)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        pass


def fuzz(endpoint: str, examples: int, seed: int = 0, proc=None, operations: list[str] | None = None,
         negative: bool = True, tag: str | None = None) -> Results:
    """Fuzz every operation of the spec with up to `examples` requests each; returns the figures."""
    from schemathesis import openapi

    spec = yaml.safe_load(SPEC.read_text())
    seeds = make_seeds(endpoint, tag or f"{seed}x{examples}")
    results = Results()
    session = requests.Session()
    for doc in rewrite(spec).values():
        schema = openapi.from_dict(doc)
        schema.config.output.sanitization.enabled = False  # print max-keys=..., not [Filtered]
        for result in schema.get_all_operations():
            op = result.ok()
            name = op.definition.raw.get("x-s3-operation", op.label)
            if operations and name not in operations:
                continue
            refill(session, endpoint, seeds)
            fuzz_operation(op, name, endpoint, session, examples, seed, negative, results, proc,
                           steer(seeds, name))
            if results.crashed:
                return results
    results.crashed = alive(endpoint, proc)
    return results


def main(argv: list[str] | None = None) -> int:
    import os

    from bench.common import free_port, wait_http

    ap = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", 500)),
                    help="examples per operation (FUZZ_EXAMPLES, default 500)")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", 0)))
    ap.add_argument("--operation", action="append", help="only this S3 operation (repeatable)")
    ap.add_argument("--positive-only", action="store_true", help="no negative (schema-violating) examples")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args(argv)

    import subprocess

    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        port = free_port()
        log_path = Path(tmp) / "gateway.log"
        log = open(log_path, "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "--port", str(port),
                                 "--data-dir", str(Path(tmp) / "data")],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        try:
            wait_http(port, "/~/ready", proc)
            res = fuzz(f"http://127.0.0.1:{port}", args.examples, args.seed, proc, args.operation,
                       negative=not args.positive_only)
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
            log.close()
        elapsed = time.monotonic() - t0
        gateway_log = log_path.read_text(errors="replace")
        if res.server_errors or res.crashed or res.bad_errors:
            kept = Path(tempfile.gettempdir()) / f"fuzz-{args.seed}-gateway.log"
            kept.write_text(gateway_log)
            print(f"gateway log kept in {kept}", file=sys.stderr)
    summary = res.summary() | {"seconds": round(elapsed, 1), "examples_per_operation": args.examples,
                               "seed": args.seed}
    if args.json:
        print(json.dumps(summary | {"server_error_samples": [f.as_dict() for f in res.server_errors[:20]],
                                    "bad_error_samples": [f.as_dict() for f in res.bad_errors[:20]]},
                         indent=2))
    else:
        print(f"{'operation':<28}{'examples':>9}  statuses")
        for op, n in sorted(res.tried.items()):
            print(f"{op:<28}{n:>9}  {dict(sorted(res.statuses[op].items()))}")
        print(f"total examples {summary['examples']} in {summary['seconds']} s; "
              f"5xx (not 501/503): {len(res.server_errors)}; non-S3 error bodies: {len(res.bad_errors)}; "
              f"transport errors: {len(res.transport_errors)}; crash: {res.crashed or 'none'}")
        kinds = Counter(problem_kind(f) for f in res.bad_errors)
        for kind, n in sorted(kinds.items()):
            print(f"  non-S3 error bodies, {kind}: {n}")
        samples = res.server_errors[:10] + [next(f for f in res.bad_errors if problem_kind(f) == k) for k in kinds]
        for f in samples:
            print(f"\n{f.operation} -> {f.status} {f.problem[:200]}\n  {f.curl[:600]}\n  request id {f.request_id}\n"
                  f"  {f.body[:400]}")
            if f.request_id:
                for line in gateway_log.splitlines():
                    if f.request_id in line:
                        print(f"  log: {line[:600]}")
    return 1 if (res.server_errors or res.bad_errors or res.crashed) else 0


if __name__ == "__main__":
    sys.exit(main())
