#!/usr/bin/env bash
# Installs everything the factory and its tests need on a fresh Debian machine:
# system packages (librrd for the rrdtool binding, rrdtool, fonts for graphs, shellcheck),
# then a virtualenv in .venv with the project installed in editable mode.
set -euo pipefail
cd "$(dirname "$0")"

apt_packages=(librrd-dev rrdtool fonts-dejavu-core shellcheck pkg-config curl chromium)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install.sh: installing system packages: ${missing[*]}" >&2
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# The editable install's meta path finder makes setuptools print a notice (not a problem
# here: the folder named like the package is the package itself); only that one is hidden.
.venv/bin/python -W "ignore:Editable installation:UserWarning" -m pip install -q -e '.[dev]'
