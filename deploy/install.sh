#!/bin/sh
# The container build's install steps: deploy/Dockerfile runs exactly this script, and
# tests/test_deploy.py runs it into a fresh virtualenv, so the two cannot drift apart.
#
#   deploy/install.sh VENV APP [STUB_CACHE]
#
# VENV: the virtualenv to create. APP: the source tree as the image holds it (gateway/,
# handlers/, pfsd/, codegen/, spec/, pyproject.toml); the gateway runs from there with
# PYTHONPATH=APP, as `make run` runs it from the checkout. STUB_CACHE: where gen_stubs keeps
# Pachyderm's (hash-pinned) protocol wheel; default: a temporary directory, removed after.
set -eu
venv=$1
app=$2
stub_cache=${3:-}
python=${PYTHON:-python3}

"$python" -m venv "$venv"
# Only the runtime dependencies, exactly as pinned in pyproject.toml (no test or bench extras);
# the project itself is not installed: its code, spec and generated stubs stay in APP.
"$venv/bin/python" - "$app/pyproject.toml" > "$venv/requirements.txt" <<'PY'
import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["dependencies"]))
PY
"$venv/bin/python" -m pip install --quiet -r "$venv/requirements.txt"

# The PFS stubs, generated here at build time (generated/ is never committed), then the spec
# checked against the handlers, as `make gen` does.
cleanup=""
if [ -z "$stub_cache" ]; then
    stub_cache=$(mktemp -d)
    cleanup=$stub_cache
fi
cd "$app"
PYTHONPATH="$app" "$venv/bin/python" -m codegen.gen_stubs --root "$app" --cache "$stub_cache"
PYTHONPATH="$app" "$venv/bin/python" -m codegen.check_spec
[ -z "$cleanup" ] || rm -rf "$cleanup"

# Bytecode now: the running container's root filesystem is read-only.
"$venv/bin/python" -m compileall -q "$app/gateway" "$app/handlers" "$app/pfsd" "$app/generated"
