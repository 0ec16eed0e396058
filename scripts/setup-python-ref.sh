#!/usr/bin/env bash
# The independent reference implementations the potential analysis is checked against
# (test/integration/potential-reference.test.ts): PyPI pyfastcdc (FastCDC 2020, Cython),
# zstandard and lz4 (the reference C libraries' bindings; CPython's zlib is the third) in a project-local venv under
# ~/.cache/dedup-lab/tools/python-ref (DEDUP_LAB_TOOLS overrides the root). Idempotent: a
# venv whose packages import is left alone. Prints the venv's python on stdout.
set -euo pipefail
TOOLS="${DEDUP_LAB_TOOLS:-$HOME/.cache/dedup-lab/tools}"
VENV="$TOOLS/python-ref"
PKGS=(pyfastcdc==0.3.1 zstandard==0.25.0 lz4==4.4.5)
PY="${PYTHON:-python3}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import pyfastcdc, pyfastcdc.cy, zstandard, lz4.frame" 2>/dev/null; then
  echo "$VENV/bin/python"
  exit 0
fi
mkdir -p "$TOOLS"
rm -rf "$VENV"
"$PY" -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary :all: "${PKGS[@]}" >&2
"$VENV/bin/python" -c "import pyfastcdc, pyfastcdc.cy, zstandard, lz4.frame" >&2
echo "$VENV/bin/python"
