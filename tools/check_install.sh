#!/usr/bin/env bash
# CI proof that the package works as users install it: a fresh venv (no system site packages) that has
# only the pinned torch and the build tools (installed first, as tools/setup.sh does), a wheel built from a
# copy of the source tree, installed non-editable with the eval extra (every other dependency resolved by
# pip from the package's declarations), then `doctor`, the Python API and a tiny `eval` run from a folder
# outside the source tree.
# The torch-only venv is made once and kept (~/.cache/surgvlp-fast, keyed by the pins); each run starts
# from a hard-linked copy of it (instant; the kept one is never written to). pip's cache is used.
#   SURGVLP_FAST_CHECK_NATIVE=1   build the compiled core into the wheel (CPU only); default: pure PyTorch
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
py=${PYTHON:-python3.11}
tmp=$(mktemp -d /tmp/surgvlp-fast-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
log() { printf '\033[1m[install-check]\033[0m %s\n' "$*"; }
quiet() { "$@" 2>&1 | { grep -v "is ignored" || true; }; }
export PIP_DISABLE_PIP_VERSION_CHECK=1
started=$SECONDS

key=$( (cat requirements.txt; echo torch==2.14.1 torchvision==0.29.1; $py --version) | sha256sum | cut -c1-12)
base=$HOME/.cache/surgvlp-fast/install-check-$key
if ! "$base/bin/python" -c "import torch, torchvision" >/dev/null 2>&1; then
  log "a venv with only torch and the build tools, kept at $base"
  rm -rf "$base"; mkdir -p "$(dirname "$base")"
  $py -m venv "$base"
  quiet "$base/bin/python" -m pip install -q torch==2.14.1 torchvision==0.29.1
  quiet "$base/bin/python" -m pip install -q -r requirements.txt
fi
log "fresh venv: a hard-linked copy of $base"
cp -al "$base" "$tmp/venv"
pip=("$tmp/venv/bin/python" -m pip)   # the copy's scripts still name the kept venv's interpreter

log "wheel from a copy of the source tree"
mkdir "$tmp/src"
git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents -- {} "$tmp/src/" 2>/dev/null || true
(cd "$tmp/src" && SURGVLP_FAST_BUILD_NATIVE=${SURGVLP_FAST_CHECK_NATIVE:-0} SURGVLP_FAST_BUILD_CUDA=0 \
  quiet "${pip[@]}" wheel -q --no-build-isolation --no-deps -w "$tmp/wheels" .)
wheel=$(ls "$tmp"/wheels/surgvlp_fast-*.whl)
quiet "${pip[@]}" install -q "$wheel[eval]"

log "doctor, the Python API and a tiny eval, outside the source tree"
mkdir "$tmp/run" && cd "$tmp/run"
bin="$tmp/venv/bin"
"$bin/surgvlp-fast" doctor
"$bin/surgvlp-fast" make-synthetic --help >/dev/null
"$bin/python" - "$src" <<'PY'
import os
import sys

import torch

import surgvlp_fast
from surgvlp_fast.config import save_config
from surgvlp_fast.training.config import load_config
from surgvlp_fast.hub import config_file
from surgvlp_fast.models import build_model, load_tokenizer
from surgvlp_fast.synthetic import make_world

assert not surgvlp_fast.__file__.startswith(sys.argv[1]), surgvlp_fast.__file__   # the installed copy
assert config_file("demo.yaml").startswith(os.path.dirname(surgvlp_fast.__file__)), config_file("demo.yaml")
make_world("world", preset="tiny", seed=0, overwrite=True, workers=1)
cfg = load_config(config_file("demo.yaml"), ["data.root=world", "model.text.tokenizer=world/tokenizer"])
torch.manual_seed(0)
model = build_model(cfg.model, load_tokenizer("world/tokenizer"))
os.makedirs("ckpt", exist_ok=True)
save_config(cfg, "ckpt/config.yaml")
torch.save({"model": model.state_dict()}, "ckpt/last.pt")
loaded, tokenizer, preprocess = surgvlp_fast.load("ckpt/last.pt")
print("surgvlp_fast.load:", type(loaded).__name__, preprocess)
PY
"$bin/surgvlp-fast" eval --checkpoint ckpt/last.pt --data-root world --protocol cholec80 --out out --device cpu \
  -o resize=64x64 -o crop=64 -o cholec80.videos=49
test -s out/results.json
log "done in $((SECONDS - started)) s"
