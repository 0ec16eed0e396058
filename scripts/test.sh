#!/usr/bin/env bash
# The one test command (npm test): brings up the local servers the integration tests
# need (installing them on first run), builds, then runs every vitest suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci
npm run -s build
bash scripts/services.sh up
( source scripts/services/lib.sh; apt_need bzip2 )   # the data tests build tar.bz2 fixtures
bash scripts/setup-notebooks.sh   # Jupyter client, Chromium, pdflatex (apt) + the tslab kernel spec
bash scripts/setup-python-ref.sh >/dev/null   # pyfastcdc, zstandard, lz4 venv: the potential analysis' reference implementations
exec npx vitest run "$@"
