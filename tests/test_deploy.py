"""deploy/: the container build and the Kubernetes manifests agree with the gateway they run.

Nothing here can be built or applied on a test machine (no container engine, no cluster), so
what can be checked is checked: the manifests parse and hold what docs/deploy.md promises;
every flag, environment variable, path and port they (and the Dockerfile) use is one the
gateway has (`python -m gateway --help`, its configuration, its routes on a running gateway
with credentials, where probes and scrapes come unsigned); and the Dockerfile's install steps
(deploy/install.sh) run in a fresh virtualenv into a gateway that starts and answers.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.server.config import parse_args
from tests.conftest import ROOT, Gateway, free_port, wait_http

DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
# Variables that belong to Python or the OS, not to the gateway's configuration.
PLATFORM_ENV = {"PATH", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}


# -- reading the files --------------------------------------------------------------------------


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def by_kind(path: Path, kind: str) -> list[dict]:
    return [d for d in documents(path) if d["kind"] == kind]


def deployments() -> list[tuple[Path, dict]]:
    return [(p, d) for p in MANIFESTS for d in by_kind(p, "Deployment")]


def containers() -> list[tuple[Path, dict, dict]]:
    return [(p, d, c) for p, d in deployments() for c in d["spec"]["template"]["spec"]["containers"]]


def flag_values(args: list[str]) -> dict[str, str | None]:
    """``--name=value`` / ``--name value`` / ``--switch`` as {"--name": value}."""
    out: dict[str, str | None] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        assert arg.startswith("--"), f"positional argument {arg!r}: the gateway takes none"
        if "=" in arg:
            name, value = arg.split("=", 1)
            out[name] = value
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[arg] = args[i + 1]
            i += 1
        else:
            out[arg] = None
        i += 1
    return out


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) with continuation lines joined and comments dropped."""
    joined, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        joined.append(current)
        current = ""
    out = []
    for line in joined:
        instruction, _, rest = line.strip().partition(" ")
        out.append((instruction.upper(), rest.strip()))
    return out


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, rest in dockerfile_instructions():
        if instruction == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def help_text() -> str:
    out = subprocess.run([sys.executable, "-m", "gateway", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    return out.stdout


# -- the manifests ------------------------------------------------------------------------------


def test_manifests_parse_and_hold_what_the_deploy_doc_promises() -> None:
    assert [p.name for p in MANIFESTS] == ["gateway.yaml", "single-node.yaml"]
    for path in MANIFESTS:
        kinds = [d["kind"] for d in documents(path)]
        assert {"Secret", "Deployment", "Service"} <= set(kinds), path.name
        for doc in documents(path):
            assert doc["apiVersion"] and doc["metadata"]["name"], path.name
    for path, dep, c in containers():
        pod = dep["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        res = c["resources"]
        assert set(res) == {"requests", "limits"} and {"cpu", "memory"} <= set(res["limits"])
        assert c["livenessProbe"]["httpGet"]["path"] == "/~/health"
        assert c["readinessProbe"]["httpGet"]["path"] == "/~/ready"
        notes = dep["spec"]["template"]["metadata"]["annotations"]
        assert notes["prometheus.io/scrape"] == "true" and notes["prometheus.io/path"] == "/~/metrics"
        # the pod lets requests finish: grace (and preStop) fit in the termination period
        grace = float(flag_values(c["args"])["--shutdown-grace"])
        pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        pause = float(pre_stop[1]) if pre_stop[:1] == ["sleep"] else 0.0
        assert pod["terminationGracePeriodSeconds"] > grace + pause, path.name


def test_cluster_deployment_is_several_copies_pointed_at_pachd() -> None:
    (dep,) = by_kind(DEPLOY / "kubernetes" / "gateway.yaml", "Deployment")
    assert dep["spec"]["replicas"] > 1
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    host, _, port = env["PACHD_ADDRESS"].rpartition(":")
    assert host.split(".")[0] == "pachd" and port == "30650"  # pachd's Service, its gRPC port
    assert "--data-dir" not in flag_values(c["args"])  # no embedded server, no data


def test_single_node_is_one_owner_of_a_persistent_data_dir() -> None:
    path = DEPLOY / "kubernetes" / "single-node.yaml"
    (dep,) = by_kind(path, "Deployment")
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert "PACHD_ADDRESS" not in {e["name"] for e in c.get("env", [])}
    data_dir = flag_values(c["args"])["--data-dir"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == data_dir]
    claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
    assert claim in {d["metadata"]["name"] for d in by_kind(path, "PersistentVolumeClaim")}
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]


def test_mounts_secrets_and_services_line_up() -> None:
    for path, dep, c in containers():
        pod = dep["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        assert all(m["name"] in volumes for m in mounts.values())
        assert "/tmp" in mounts  # the one scratch path a read-only root leaves writable
        # the credentials file is a key of a Secret of the same file, mounted where the flag says
        creds = Path(flag_values(c["args"])["--credentials-file"])
        secret_volume = volumes[mounts[str(creds.parent)]["name"]]["secret"]
        (secret,) = [s for s in by_kind(path, "Secret") if s["metadata"]["name"] == secret_volume["secretName"]]
        assert creds.name in secret["stringData"]
        # one port everywhere: the flag, the container port, the scrape port, the Service
        port = int(flag_values(c["args"])["--port"])
        (cport,) = c["ports"]
        assert cport["containerPort"] == port
        assert int(dep["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]) == port
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe in c:
                assert c[probe]["httpGet"]["port"] in (cport["name"], port)
        (svc,) = by_kind(path, "Service")
        (sport,) = svc["spec"]["ports"]
        assert sport["port"] == 30600 and sport["targetPort"] in (cport["name"], port)
        assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
        assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()


# -- flags, environment variables, paths and ports against the gateway ---------------------------


def test_every_flag_and_variable_used_is_the_gateways() -> None:
    text = help_text()
    known_flags = set(re.findall(r"(--[a-z][a-z0-9-]+)", text))
    used_flags: set[str] = set()
    used_env: set[str] = set(dockerfile_env())
    for _, _, c in containers():
        used_flags |= set(flag_values(c["args"]))
        used_env |= {e["name"] for e in c.get("env", [])}
    assert used_flags and used_flags <= known_flags, used_flags - known_flags
    gateway_env = used_env - PLATFORM_ENV
    assert gateway_env and all(re.search(rf"\b{name}\b", text) for name in gateway_env), gateway_env


def test_the_configurations_they_describe_are_accepted(tmp_path, monkeypatch) -> None:
    """Each container's args and env (plus the image's ENV) parse, and listening on every
    interface is allowed because credentials are configured; the image's defaults alone are not."""
    for name in list(os.environ):
        if name.startswith("S3GW_") or name == "PACHD_ADDRESS":
            monkeypatch.delenv(name)
    image_env = {k: v for k, v in dockerfile_env().items() if k not in PLATFORM_ENV}
    creds = tmp_path / "credentials"
    creds.write_text("# comment\nAK:SK\n")
    for path, _, c in containers():
        args = [a.replace("/etc/s3-gateway/credentials", str(creds)) for a in c["args"]]
        env = {**image_env, **{e["name"]: e["value"] for e in c.get("env", [])}}
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            config = parse_args(args)
        assert config.host == "0.0.0.0" and config.credentials == {"AK": "SK"}, path.name
        assert config.exposure_error() is None
        assert config.embedded == (path.name == "single-node.yaml")
    # The image alone (S3GW_HOST=0.0.0.0, no credentials) refuses to start anonymous.
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3GW_") and k != "PACHD_ADDRESS"}
    run = subprocess.run([sys.executable, "-m", "gateway"], cwd=ROOT, env={**env, **image_env},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "refusing to listen on 0.0.0.0 without credentials" in run.stderr


def test_probe_and_scrape_paths_answer_unsigned_on_a_gateway_with_credentials(tmp_path) -> None:
    """Kubelet probes, Prometheus and the image's HEALTHCHECK send no signature."""
    paths: set[str] = set()
    for _, dep, c in containers():
        paths |= {c[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe") if p in c}
        paths.add(dep["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"])
    (check,) = [rest for instruction, rest in dockerfile_instructions() if instruction == "HEALTHCHECK"]
    paths |= set(re.findall(r"http://127\.0\.0\.1:[^/]+(/[^']*)'", check))
    assert paths == {"/~/health", "/~/ready", "/~/metrics"}
    # the manifests' own flags (not where they listen or keep data), with a key pair
    flags: dict[str, str | None] = {}
    for _, _, c in containers():
        flags.update(flag_values(c["args"]))
    for local in ("--host", "--port", "--data-dir", "--credentials-file"):
        flags.pop(local, None)
    extra = [f"{k}={v}" if v is not None else k for k, v in flags.items()]
    gw = Gateway(tmp_path / "data", *extra, "--access-key", "AK", "--secret-key", "SK")
    try:
        for path in sorted(paths):
            assert httpx.get(gw.url + path, timeout=10).status_code == 200, path
        # and a signed-only path is refused unsigned: the gateway did have credentials
        assert httpx.get(gw.url + "/", timeout=10).status_code == 403
    finally:
        gw.stop()


def test_dockerfile_ports_user_and_entrypoint() -> None:
    steps = dockerfile_instructions()
    first = {}
    for instruction, rest in steps:
        first.setdefault(instruction, rest)
    assert re.fullmatch(r"python:3\.1[1-9]-slim", first["FROM"])
    env = dockerfile_env()
    assert first["EXPOSE"] == env["S3GW_PORT"] == "30600"
    assert re.fullmatch(r"\d+:\d+", first["USER"]) and not first["USER"].startswith("0:")
    uid = int(first["USER"].split(":")[0])
    for _, dep, _c in containers():
        assert dep["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == uid
    assert first["ENTRYPOINT"] == '["python", "-m", "gateway"]'
    assert env["PYTHONPATH"] == "/app" and env["PATH"].startswith("/opt/venv/bin:")


# -- the container build's install steps --------------------------------------------------------


def copied_tree(app: Path) -> None:
    """What the Dockerfile's COPY lines put in /app, from this checkout (tracked files only)."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = [f for f in tracked.decode().split("\0") if f]
    copies = [shlex.split(rest) for instruction, rest in dockerfile_instructions() if instruction == "COPY"]
    assert copies
    for *sources, dest in copies:
        assert dest.startswith("/app/") and len(sources) == 1
        src, target = sources[0], app / dest.removeprefix("/app/")
        chosen = [f for f in files if f == src or f.startswith(src + "/")]
        assert chosen, f"COPY {src}: nothing tracked there"
        for f in chosen:
            out = target / Path(f).relative_to(src) if f != src else target
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, out)


@pytest.mark.slow
def test_container_install_steps_in_a_fresh_virtualenv(tmp_path) -> None:
    """The Dockerfile's RUN (deploy/install.sh) into a new virtualenv, then the gateway from it,
    run as the image runs it: from anywhere, PYTHONPATH=/app, with its embedded PFS server."""
    (run,) = [rest for instruction, rest in dockerfile_instructions() if instruction == "RUN"]
    assert "/app/deploy/install.sh /opt/venv /app" in run
    app, venv = tmp_path / "app", tmp_path / "venv"
    copied_tree(app)
    assert not (app / "generated").exists()  # the stubs come from the build, not the checkout
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3GW_") and k != "PACHD_ADDRESS"}
    env["PYTHON"] = sys._base_executable  # a new virtualenv from the base interpreter
    # The stub generator's pinned wheel: reuse this checkout's download when there is one.
    cache = [str(ROOT / ".cache")] if (ROOT / ".cache").is_dir() else []
    subprocess.run(["sh", str(app / "deploy" / "install.sh"), str(venv), str(app), *cache], env=env,
                   check=True, timeout=1200)
    assert (app / "generated" / "pfs" / "pfs_pb2.py").exists()
    assert not list(venv.glob("lib/*/site-packages/gateway"))  # dependencies only

    image_env = dockerfile_env()
    env.update({k: v.replace("/opt/venv", str(venv)).replace("/app", str(app)) for k, v in image_env.items()})
    env["PATH"] = env["PATH"].replace("$PATH", os.environ["PATH"])
    python = str(venv / "bin" / "python")
    # the project itself is not installed: it runs from /app through PYTHONPATH
    where = subprocess.run([python, "-c", "import gateway; print(gateway.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert where == str(app / "gateway" / "__init__.py")
    port = free_port()
    creds = tmp_path / "credentials"
    creds.write_text("AK:SK\n")
    env.update({"S3GW_HOST": "127.0.0.1", "S3GW_PORT": str(port), "S3GW_DATA_DIR": str(tmp_path / "data"),
                "S3GW_CREDENTIALS_FILE": str(creds)})
    with open(tmp_path / "gateway.log", "wb") as log:
        proc = subprocess.Popen([python, "-m", "gateway"], cwd=tmp_path, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            wait_http(f"http://127.0.0.1:{port}/~/ready", proc, timeout=120)
            assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 403  # signed only
            # the image's HEALTHCHECK command, as the container engine would run it
            (check,) = [rest for instruction, rest in dockerfile_instructions() if instruction == "HEALTHCHECK"]
            command = json.loads(check.split(" CMD ", 1)[1])
            assert command[0] == "python"
            health = subprocess.run([python, *command[1:]], cwd=tmp_path, env=env, capture_output=True,
                                    text=True, timeout=60)
            assert health.returncode == 0, health.stderr
        finally:
            proc.terminate()
            assert proc.wait(timeout=60) == 0, (tmp_path / "gateway.log").read_text()
