#!/usr/bin/env bash
# Create (or refresh) the virtualenv of the dashboard's browser test: Selenium from PyPI
# driving Debian's headless Chromium through Debian's chromedriver, and pytest.
#
# Usage: conformance/dashboard/setup_venv.sh          (venv at <repo>/.venv-dashboard)
#        VENV=/some/path conformance/dashboard/setup_venv.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
VENV="${VENV:-$repo/.venv-dashboard}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup_venv: creating virtualenv at $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip --disable-pip-version-check --no-input install --quiet -r "$here/requirements.txt"
"$VENV/bin/python" -c 'import selenium, pytest; print("setup_venv: selenium %s, pytest %s" % (selenium.__version__, pytest.__version__))'
