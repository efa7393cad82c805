#!/usr/bin/env bash
# The README's two commands:
#   bash tools/quickstart.sh demo   set up (tools/setup.sh) and run the demo on the synthetic world
#   bash tools/quickstart.sh test   set up and run the test suites, each one even when an earlier one failed:
#                                   the whole suite with the compiled core; the tests whose outcome
#                                   depends on it in pure-PyTorch mode (fast paths off); the numerics
#                                   tests again on ATen's default (non-SIMD) CPU kernels. One summary
#                                   line per suite, exit 1 if any failed.
# SURGVLP_FAST_TEST_WORKERS: pytest-xdist processes (default: one per core, at most 2)
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
workers=${SURGVLP_FAST_TEST_WORKERS:-$(( $(nproc) < 2 ? 1 : 2 ))}
xdist=()
[ "$workers" -gt 1 ] && xdist=(-n "$workers" --dist loadgroup)   # an xdist_group runs in one worker
summaries=() failed=0 totals=(0 0 0)
suite() {   # suite NAME [VAR=VALUE ...] -- PYTEST_ARGUMENTS
  local name=$1 vars=() log start=$SECONDS rc counts
  shift
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  log=$(mktemp)
  echo "== $name"
  set +e
  env "${vars[@]}" "$py" -m pytest -q -p no:cacheprovider --benchmark-disable --durations=25 "${xdist[@]}" "$@" \
    | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  counts=$(tail -n 1 "$log" | awk '{for (i = 1; i < NF; i++) { w = $(i + 1); if (w ~ /^passed/) p = $i;
           if (w ~ /^failed/ || w ~ /^error/) f += $i; if (w ~ /^skipped/) s = $i }}
           END { printf "%d passed, %d failed, %d skipped", p, f, s }')
  read -r p _ f _ s _ <<< "${counts//,/}"
  totals=($((totals[0] + p)) $((totals[1] + f)) $((totals[2] + s)))
  rm -f "$log"
  [ "$rc" = 5 ] && counts="$counts (no test collected)"
  [ "$rc" = 0 ] || failed=1
  summaries+=("$name: $counts, $((SECONDS - start)) s$([ "$rc" = 0 ] || echo ", exit $rc")")
}
suite "compiled core" -- tests benchmarks
suite "pure PyTorch" SURGVLP_FAST_DISABLE_NATIVE=1 -- -m fallback tests
suite "default CPU kernels" ATEN_CPU_CAPABILITY=default -- -m numerics tests
echo "== summary"
printf '%s\n' "${summaries[@]}"
echo "total: ${totals[0]} passed, ${totals[1]} failed, ${totals[2]} skipped"
exit "$failed"
