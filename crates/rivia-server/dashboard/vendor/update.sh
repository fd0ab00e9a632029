#!/usr/bin/env bash
# Refreshes the vendored highlight.js files from npm (the dashboard's only third-party
# code; no build step, the files are served as they come from the package).
#
# Usage: vendor/update.sh           copy the pinned version's files into vendor/highlight/
#        vendor/update.sh --check   fail if the committed files differ from that version's
# CI runs --check, so the committed files are exactly what the pinned package holds.
# To upgrade: change VERSION below, run without --check, commit.
set -euo pipefail

VERSION="11.12.0"
PACKAGE="@highlightjs/cdn-assets"
# The languages of the script runtimes (Python, Node, Ruby, PHP, Go, Swift) and JSON.
LANGUAGES=(python javascript ruby php go swift json)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/highlight"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null && tar xzf ./*.tgz)
src="$work/package"

fresh="$work/fresh"
mkdir -p "$fresh/languages"
cp "$src/es/core.min.js" "$fresh/core.min.js"
for lang in "${LANGUAGES[@]}"; do
    cp "$src/es/languages/$lang.min.js" "$fresh/languages/$lang.min.js"
done
cp "$src/LICENSE" "$fresh/LICENSE"
echo "$PACKAGE $VERSION (npm), files from its es/ directory" >"$fresh/VERSION"

if [ "${1:-}" = "--check" ]; then
    if ! diff -r "$fresh" "$dest"; then
        echo "vendor/highlight differs from $PACKAGE@$VERSION: run $0 and commit" >&2
        exit 1
    fi
    echo "vendor/highlight matches $PACKAGE@$VERSION"
else
    rm -rf "$dest"
    cp -r "$fresh" "$dest"
    echo "vendor/highlight now holds $PACKAGE@$VERSION"
fi
