"""The demo's training step (configs/demo.yaml: PeskaVLP, tiny CNN + 2-layer BERT, 64×64 frames) through
the real trainer on a synthetic world, with the vision trunk in NCHW (`model.vision.channels_last=false`,
the baseline) and in channels-last memory order, alternated in one run.

One schedule pass is 12 clip steps (64 clips × 4 frames × 3 views), 1 keystep and 1 video step; the
time per step is the mean over whole passes (after a warm-up pass), DataLoader included.

    .venv/bin/python benchmarks/bench_train_step.py [--passes 2] [--rounds 2] [--threads 2]
"""
import contextlib
import os
import sys
import tempfile
import time

import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Metric, bench_parser, finish, markdown_table, measurement_rows  # noqa: E402
from surgvlp_fast.hub import config_file  # noqa: E402
from surgvlp_fast.models import load_tokenizer  # noqa: E402
from surgvlp_fast.pretrain.build import build_training_data  # noqa: E402
from surgvlp_fast.synthetic import make_world  # noqa: E402
from surgvlp_fast.training.config import load_config  # noqa: E402
from surgvlp_fast.training.trainer import Trainer  # noqa: E402

LAYOUTS = {"NCHW (baseline)": "false", "channels-last": "true"}


def demo_trainer(world: str, work_dir: str, channels_last: str, overrides=()) -> Trainer:
    cfg = load_config(config_file("demo.yaml"), [
        f"data.root={world}", f"model.text.tokenizer={os.path.join(world, 'tokenizer')}",
        f"model.vision.channels_last={channels_last}", "train.progress_bar=false", "train.log_every=1000",
        "train.epochs=100", *overrides])
    data = build_training_data(cfg.data, load_tokenizer(cfg.model.text.tokenizer), seed=cfg.seed,
                               validation=bool(cfg.validation.every_epochs))
    return Trainer(cfg, work_dir, data)


def seconds_per_step(trainer: Trainer, steps: int) -> float:
    start_step, start = trainer.progress.step, time.perf_counter()
    trainer.train(max_steps=start_step + steps)
    return (time.perf_counter() - start) / (trainer.progress.step - start_step)


def main(argv=None):
    parser = bench_parser(__doc__, threads=2)
    parser.add_argument("--passes", type=int, default=2, help="schedule passes (14 steps each) per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the two layouts")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_step_", ignore_cleanup_errors=True) as folder:
        world = os.path.join(folder, "world")
        make_world(world, preset="demo", seed=0, cholec80_train=0, cholec80_test=0,  # 800 lectures, ~30 s
                   autolaparo_train=0, autolaparo_test=0, cholect50_test=0)
        with contextlib.ExitStack() as running:   # the trainers (workers, process groups) closed on any exit
            trainers = {label: running.enter_context(demo_trainer(world, os.path.join(folder, f"run{i}"), flag))
                        for i, (label, flag) in enumerate(LAYOUTS.items())}
            per_pass = len(trainers["channels-last"].plan(0))  # 12 clip + 1 keystep + 1 video steps
            times = {label: [] for label in trainers}
            for trainer in trainers.values():
                seconds_per_step(trainer, per_pass)  # warm-up pass: workers, decoders, oneDNN primitives
            for _ in range(args.rounds):
                for label, trainer in trainers.items():
                    times[label].append(seconds_per_step(trainer, args.passes * per_pass))

    size = f"demo.yaml step (clip 64x4x3 views 64px; keystep 16x16; video 8x32), {args.threads} threads"
    base = min(times["NCHW (baseline)"])
    table = markdown_table(["vision trunk", "s/step (best round)", "rounds", "vs NCHW"],
                           [[label, f"{min(values):.3f}", " ".join(f"{v:.3f}" for v in values),
                             f"{base / min(values):.2f}x"] for label, values in times.items()])
    finish(args, table, measurement_rows("train_step", size, {label: {"best": min(v)} for label, v in times.items()},
                                         [Metric("best", "time per step", "s", ".3f")]))


# ---------------------------------------------------------------- pytest-benchmark (small, for CI)
@pytest.mark.benchmark(group="train_step")
@pytest.mark.parametrize("label", list(LAYOUTS))
def test_demo_step(benchmark, small_world, tmp_path, label):
    small = ["data.clip.batch_size=4", "data.keystep.batch_size=2", "data.video.batch_size=2", "data.num_workers=0"]
    with demo_trainer(small_world, str(tmp_path / "run"), LAYOUTS[label], small) as trainer:
        calls = []
        benchmark.pedantic(lambda: calls.append(seconds_per_step(trainer, 2)), rounds=2, iterations=1)
        assert trainer.progress.step == 2 * len(calls) and all(t > 0 for t in calls)


if __name__ == "__main__":
    main()
