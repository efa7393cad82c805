#!/usr/bin/env bash
# Re-measures every figure of the README's performance table, one benchmark after the other, each
# appending its rows to benchmarks/results.csv with the load it started at (benchmarks/results.py).
# Run it alone on the machine: before each benchmark it waits (up to 5 minutes) for the 1-minute load
# average to fall to the core count, and stops on a busy machine; rows measured above it are marked noisy.
#   bash tools/measure_readme.sh [bench_x.py ...]   only these (with their default arguments)
# Afterwards: `python benchmarks/report.py`, then the README table and tests/test_benchmark_rows.py's TRACE.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
cores=$(nproc)
quiet_now() { awk -v load="$(cut -d' ' -f1 /proc/loadavg)" -v cores="$cores" 'BEGIN { exit !(load <= cores) }'; }
wait_quiet() {   # the load of the previous benchmark, or of other work, decays first
  for _ in $(seq 60); do quiet_now && return; echo "waiting for a quiet machine: load $(cut -d' ' -f1 /proc/loadavg) on $cores cores"; sleep 5; done
  echo "the machine is busy (load $(cut -d' ' -f1 /proc/loadavg) on $cores cores): stop the other work first" >&2
  exit 1
}
run() { wait_quiet; echo "== $*"; "$py" "$@"; }
[ $# -gt 0 ] && { for script in "$@"; do run "benchmarks/$script"; done; exit 0; }   # some of them, default arguments
run benchmarks/bench_contrastive.py --sizes 4096 --losses milnce   # MIL-NCE at its target size, B = 4096
run benchmarks/bench_contrastive.py --sizes 4096 8192 --losses clip_ntx
run benchmarks/bench_level_loss.py
run benchmarks/bench_softdtw.py --threads 1
run benchmarks/bench_sampler.py --clips 8 --repeats 3
run benchmarks/bench_data_pipeline.py
run benchmarks/bench_train_step.py
run benchmarks/bench_text_pooling.py
run benchmarks/bench_surglavi_import.py
run benchmarks/bench_search.py
run benchmarks/bench_predict.py --repeats 3
run benchmarks/bench_batch_decode.py --repeats 5
# the demo step against the commit before the faster data path and allocator (a worktree with its core)
if [ ! -d /tmp/surgvlp_fast_ae28bae ]; then
  git worktree add --detach /tmp/surgvlp_fast_ae28bae ae28bae
  (cd /tmp/surgvlp_fast_ae28bae && "$OLDPWD/$py" setup.py -q build_ext --inplace)   # its own compiled core
fi
run benchmarks/bench_demo_step.py --baseline-src /tmp/surgvlp_fast_ae28bae
