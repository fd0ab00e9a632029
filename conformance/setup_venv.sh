#!/usr/bin/env bash
# Create (or refresh) the virtualenv used by the Rivia conformance test.
#
# The official Syncano client 5.4.6 pins ancient versions of its dependencies
# (requests==2.10, six==1.10, python-slugify==0.1.0, validictory==1.0.1) that
# are not installable on modern Python; we install it with --no-deps and pull
# current versions of the libraries it actually imports.
#
# Usage: conformance/setup_venv.sh            (venv at <repo>/.venv)
#        VENV=/some/path conformance/setup_venv.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
VENV="${VENV:-$repo/.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup_venv: creating virtualenv at $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi

pip=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input)

# Dependencies first, the client last with --no-deps: in this order pip does not
# print its (expected, harmless) complaint about syncano's ancient pins.
"${pip[@]}" install --quiet requests six python-slugify validictory pytest click PyYAML watchdog
"${pip[@]}" install --quiet --no-deps 'syncano==5.4.6' 'syncano-cli==0.8'

# Smoke check: the client must be importable with our compatibility shim.
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" "$VENV/bin/python" - <<'PY'
import syncano_compat  # noqa: F401  (patches the model metaclass)
import syncano
from syncano.models import Instance, Class, Object, User, Group, Channel, ApiKey  # noqa: F401
assert syncano.VERSION == '5.4.6', syncano.VERSION
from syncano_cli.main import cli  # noqa: F401  (the command-line tool, syncano-cli 0.8)
print("setup_venv: syncano %s and syncano-cli importable" % syncano.VERSION)
PY
