"""The demo's whole training step, data loading included: `surgvlp-fast train` with configs/demo.yaml on
the demo's synthetic world, each implementation in its own fresh process, alternated in rounds.

Implementations:
- this checkout                  the code as it is
- this checkout, system malloc   the same with SURGVLP_FAST_MALLOC=system (glibc's default: activations
                                 faulted in again every step; allocator.py)
- baseline <commit>              `--baseline-src DIR`: another checkout of the project (e.g. the commit
                                 before a change: `git worktree add /tmp/base <commit>`, its compiled core
                                 built or copied in), run the same way
Each run trains 4 schedule passes (14 steps each: 12 clip, 1 keystep, 1 video); the time per step is
measured from the log's clock between its first logged step (14) and its last (56), so process start,
world reading and the first pass's warm-up are left out.

    .venv/bin/python benchmarks/bench_demo_step.py [--world DIR] [--baseline-src DIR] [--rounds 2]
"""
import datetime
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Metric, bench_parser, finish, markdown_table, measurement_rows  # noqa: E402
from surgvlp_fast.hub import config_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGGED = re.compile(r"^(\S+ \S+) epoch \d+ step (\d+)/")


def make_demo_world(folder: str) -> str:
    """The demo's world (`surgvlp-fast make-synthetic --preset demo`), made once in `folder`."""
    world = os.path.join(folder, "world")
    if not os.path.exists(os.path.join(world, "splits")):
        from surgvlp_fast.synthetic import make_world

        make_world(world, preset="demo", seed=0)
    return world


def seconds_per_step(src: str, world: str, work_dir: str, env: dict, epochs: int = 4) -> float:
    """One `train` run of checkout `src` in a fresh process: seconds per step between logged steps."""
    command = [sys.executable, "-m", "surgvlp_fast.cli", "train", config_file("demo.yaml"), "--work-dir", work_dir,
               f"data.root={world}", f"model.text.tokenizer={os.path.join(world, 'tokenizer')}",
               f"train.epochs={epochs}", "train.log_every=14", "train.progress_bar=false"]
    done = subprocess.run(command, cwd=src, env={**env, "PYTHONPATH": src}, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench_demo_step: training failed in {src}:\n{done.stderr[-2000:]}")
    stamps = {}
    with open(os.path.join(work_dir, "log.txt")) as log:
        for line in log:
            m = LOGGED.match(line)
            if m:
                stamps[int(m.group(2))] = datetime.datetime.fromisoformat(m.group(1)).timestamp()
    first, last = min(stamps), max(stamps)
    return (stamps[last] - stamps[first]) / (last - first)


def commit_of(src: str) -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=src, capture_output=True, text=True)
    return done.stdout.strip() or os.path.basename(os.path.abspath(src))


def main(argv=None):
    parser = bench_parser(__doc__, workdir="surgvlp_bench_demo_step")
    parser.add_argument("--world", default=None, help="an existing demo world (default: made in --workdir)")
    parser.add_argument("--baseline-src", default=None, help="another checkout of the project to compare with")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the implementations")
    args = parser.parse_args(argv)
    world = args.world or make_demo_world(args.workdir)
    runs = {"this checkout": (ROOT, {}), "this checkout, system malloc": (ROOT, {"SURGVLP_FAST_MALLOC": "system"})}
    if args.baseline_src:
        runs[f"baseline {commit_of(args.baseline_src)}"] = (os.path.abspath(args.baseline_src), {})
    times = {name: [] for name in runs}
    with tempfile.TemporaryDirectory(prefix="bench_demo_step_") as folder:
        for r in range(args.rounds):
            for i, (name, (src, env)) in enumerate(runs.items()):
                work_dir = os.path.join(folder, f"run{r}_{i}")
                times[name].append(seconds_per_step(src, world, work_dir, {**os.environ, **env}))
                print(f"{name}: {times[name][-1]:.3f} s/step", flush=True)
    reference = min(times[list(runs)[-1]])
    table = markdown_table(["implementation", "s/step (best round)", "rounds", f"vs {list(runs)[-1]}"],
                           [[name, f"{min(v):.3f}", " ".join(f"{t:.3f}" for t in v), f"{reference / min(v):.2f}x"]
                            for name, v in times.items()])
    size = "demo.yaml, demo world, 4 passes of 14 steps, data loading included"
    finish(args, table, measurement_rows("demo_step", size, {name: {"best": min(v)} for name, v in times.items()},
                                         [Metric("best", "time per step", "s", ".3f")]))


if __name__ == "__main__":
    main()
