#!/usr/bin/env bash
# Creates (or updates) the virtual environment of the Python interop tests and prints the
# path of its python on the last line of stdout; progress goes to stderr.
#
#   PLEXUS_PYTHON="$(bash tests/python/setup.sh)" cargo test --test python_interop
#
# Without PLEXUS_PYTHON the tests look for target/python-venv/bin/python, where this
# script puts the environment unless PLEXUS_PYTHON_VENV names another directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${PLEXUS_PYTHON_VENV:-$root/target/python-venv}"
py="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    echo "creating the virtual environment $venv" >&2
    "$py" -m venv "$venv" >&2
fi
if ! "$venv/bin/python" - "$here/requirements.txt" >/dev/null 2>&1 <<'PYEOF'
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, want = line.split("==")
        assert version(name) == want, (name, version(name), want)
PYEOF
then
    echo "installing $(grep -v '^#' "$here/requirements.txt" | tr '\n' ' ')into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$here/requirements.txt" >&2
fi
echo "$venv/bin/python"
