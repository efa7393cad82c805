#!/usr/bin/env bash
# The README's two commands:
#   bash tools/quickstart.sh demo   set up (tools/setup.sh) and run the demo on the synthetic world
#   bash tools/quickstart.sh test   set up and run the whole test suite, in both modes:
#                                   with the compiled core, then pure PyTorch (fast paths off)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-}
case "$what" in
  demo|test) ;;
  *) echo "usage: bash tools/quickstart.sh demo|test" >&2; exit 2 ;;
esac
bash tools/setup.sh
py=.venv/bin/python
if [ "$what" = demo ]; then
  exec .venv/bin/surgvlp-fast demo "${@:2}"
fi
run_pytest() {
  set +e; "$py" -m pytest -q -p no:cacheprovider --benchmark-disable "$@"; local rc=$?; set -e
  [ "$rc" = 5 ] && { echo "pytest collected no tests" >&2; return 1; }
  return "$rc"
}
echo "== tests with the compiled core"
run_pytest tests benchmarks
echo "== tests in pure-PyTorch mode (SURGVLP_FAST_DISABLE_NATIVE=1: no compiled core)"
SURGVLP_FAST_DISABLE_NATIVE=1 run_pytest tests
