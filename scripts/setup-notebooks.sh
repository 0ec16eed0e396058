#!/usr/bin/env bash
# What notebooks, figures and tables need on a fresh Debian machine, then the notebook kernel
# `dedup-lab` (tslab inside; its own name, so a global `tslab` kernel is never shadowed):
#   Debian's Jupyter client (nbconvert/nbclient on /usr/bin/python3 — not a pyenv python),
#   Chromium for the static figure export, pdflatex + booktabs for the table check, poppler-utils
#   (pdffonts/pdfinfo: the figures test checks embedded fonts and page sizes), and
#   the kernel spec in <repo>/.jupyter (npx dedup-lab kernel install), and the pinned JupyterLab
#   venv of `dedup-lab lab` (.tools/jupyter-venv: jupyterlab, plotly's renderer, papermill and its
#   TypeScript translator; ≈ 1 min from PyPI the first time, a stamp check later). Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/services/lib.sh
source "$ROOT/scripts/services/lib.sh"

apt_need jupyter-nbconvert python3-nbclient jupyter-client python3-ipykernel jupyter-core python3-nbformat \
  python3-venv chromium fonts-dejavu-core texlive-latex-recommended poppler-utils

cd "$ROOT"
[ -f dist/cli/main.js ] || npm run -s build
node bin/dedup-lab.js kernel install
node bin/dedup-lab.js lab --install-only
