#!/usr/bin/env bash
# Sets up everything surgvlp-fast needs on a fresh Debian 12 machine, idempotently:
# system FFmpeg (+ dev headers for the native sampler), espeak-ng (narration tests), a Python 3.11 venv with the pinned
# torch/torchvision, the Python dependencies, and the package itself with its compiled core.
#
# Knobs (environment variables):
#   SURGVLP_FAST_VENV    venv location (default: a cache under ~/.cache keyed by the pins;
#                        ./.venv always links to it)
#   SURGVLP_FAST_NO_APT  1 = skip apt-get (FFmpeg must already be installed)
#   plus the build knobs of setup.py (README, "Build knobs").
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
quiet() { "$@" 2>&1 | { grep -v "is ignored" || true; }; }  # drop pip's local-index noise, keep its status

if [ "${SURGVLP_FAST_NO_APT:-0}" != 1 ]; then
  need=""
  for p in ffmpeg libavcodec-dev libavformat-dev libavutil-dev libswscale-dev pkg-config espeak-ng; do
    dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
  done
  if [ -n "$need" ]; then
    log "installing system packages:$need"
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $need >/dev/null
  fi
fi

py=${PYTHON:-python3.11}
# the venv cache key: the build tools, the declared dependencies ([project] of pyproject.toml), the pins
key=$( (cat requirements.txt; sed -n '/^\[project\]/,/^\[tool\./p' pyproject.toml; echo torch==2.14.1 torchvision==0.29.1
        $py --version) | sha256sum | cut -c1-12)
venv=${SURGVLP_FAST_VENV:-$HOME/.cache/surgvlp-fast/venv-$key}
if ! "$venv/bin/python" -c "import torch, torchvision, torchcodec, av, transformers, sklearn, pytest, ivtmetrics, matplotlib" >/dev/null 2>&1; then
  log "creating the venv at $venv (about 4 minutes)"
  rm -rf "$venv"; mkdir -p "$(dirname "$venv")"
  $py -m venv "$venv"
  export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
  quiet "$venv/bin/pip" install -q torch==2.14.1 torchvision==0.29.1   # first: the pins (local wheels)
  quiet "$venv/bin/pip" install -q -r requirements.txt                 # build tools
fi
[ "$venv" = "$root/.venv" ] || ln -sfn "$venv" "$root/.venv"

log "building surgvlp_fast and its compiled core (with the declared dependencies and the test extra)"
quiet "$venv/bin/pip" install -q -e ".[test]" --no-build-isolation
"$venv/bin/python" -c "import torch, torchvision, torchcodec, av, transformers, sklearn, pytest, ivtmetrics, matplotlib"
"$venv/bin/surgvlp-fast" doctor
