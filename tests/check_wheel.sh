#!/usr/bin/env bash
# Build the wheel, install it into a fresh virtual environment whose PATH has no node,
# and check that Jupyter lists both halves of the extension as enabled and OK.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PY" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" .
wheel=$(ls "$work"/dist/codelab_ext-*.whl)
members=$("$PY" -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$wheel")
echo "$members" | grep -q "share/jupyter/labextensions/codelab-ext/package.json" \
  || { echo "FAIL: the wheel does not ship the prebuilt labextension"; exit 1; }
echo "$members" | grep -q "etc/jupyter/jupyter_server_config.d/codelab_ext.json" \
  || { echo "FAIL: the wheel does not ship the server config"; exit 1; }

python3 -m venv "$work/venv"
# a PATH with the venv only: no node, no jlpm, nothing from the developer's tools
clean=(env -i "HOME=$work/home" "PATH=$work/venv/bin" "LANG=C.UTF-8")
# JupyterLab itself comes from PyPI as a user would get it; our wheel must not need node at all
"${clean[@]}" python -m pip install --quiet "$wheel" "jupyterlab>=4.0.0,<5"
"${clean[@]}" sh -c 'command -v node' >/dev/null 2>&1 && { echo "FAIL: node is on the clean PATH"; exit 1; }

server=$("${clean[@]}" jupyter server extension list 2>&1)
echo "$server" | grep -E "codelab_ext.*enabled" >/dev/null || { echo "$server"; echo "FAIL: server extension not enabled"; exit 1; }
echo "$server" | grep -E "codelab_ext.*OK" >/dev/null || { echo "$server"; echo "FAIL: server extension not OK"; exit 1; }
lab=$("${clean[@]}" jupyter labextension list 2>&1)
echo "$lab" | grep -E "codelab-ext.*enabled.*OK" >/dev/null || { echo "$lab"; echo "FAIL: labextension not enabled/OK"; exit 1; }
"${clean[@]}" jupyter codelab --help >/dev/null || { echo "FAIL: jupyter codelab --help"; exit 1; }
echo "wheel check: $(basename "$wheel") installs without node; server extension and labextension enabled and OK"
