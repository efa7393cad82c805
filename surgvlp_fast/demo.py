"""`surgvlp-fast demo`: the whole pipeline on a CPU in about ten minutes.

1. generate the synthetic surgical world (H.264 lectures, narrations, keysteps, abstracts, and
   Cholec80-style downstream videos);
2. score an untrained model zero-shot (the sanity check: it must be at chance);
3. pretrain `configs/demo.yaml` (the PeskaVLP recipe at tiny scale) through the project's own
   pipeline (sampler, level datasets, trainer), with a cosine schedule sized to the time budget;
4. score the pretrained model zero-shot on held-out synthetic videos, print the table, write
   results.json and the pictures (phase ribbons, confusion matrix).
"""
from __future__ import annotations

import functools
import json
import re
import time
from pathlib import Path

from surgvlp_fast.hub import config_file

DEFAULT_CONFIG = config_file("demo.yaml")   # the installed package's copy, else the source tree's
PROMPT_FILE = "class_prompt_cholec80_sentences.txt"


def add_arguments(parser):
    parser.add_argument("--out", default="demo_output", help="output folder (world, training run, results)")
    parser.add_argument("--budget-minutes", type=float, default=10.0, help="wall-clock budget of the whole demo")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="training config (default: configs/demo.yaml)")
    parser.add_argument("--preset", default="demo", help="synthetic world size (tiny | default | demo)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the world and of training")
    parser.add_argument("--workers", type=int, default=None, help="processes generating the world (default: all cores)")
    parser.add_argument("--reuse-world", action="store_true", help="keep an existing world in OUT/world")
    parser.add_argument("--max-steps", type=int, default=0, help="cap on training steps (0 = as many as the budget allows)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (0 = torch's default; 1 is faster on a machine busy with other work)")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides")


class Clock:
    """Progress lines stamped with the time since the demo started."""

    def __init__(self, budget_s: float):
        self.start, self.budget_s = time.perf_counter(), budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.budget_s - self.elapsed()

    def say(self, text: str) -> None:
        minutes, seconds = divmod(int(self.elapsed()), 60)
        print(f"[demo {minutes:2d}:{seconds:02d}] {text}", flush=True)


class ZeroShotTask:
    """Zero-shot phase recognition on the world's held-out Cholec80-style videos (49 onwards) with
    the world's sentence prompts; frames are read once and kept in memory for every evaluation."""

    def __init__(self, world: Path, info: dict, cfg):
        from surgvlp_fast import resources
        from surgvlp_fast.evaluation.downstream.registry import read_video
        from surgvlp_fast.models.preprocess import eval_transform
        from surgvlp_fast.evaluation.features import preload

        numbers = sorted(d["video"] for d in info["downstream"] if d["dataset"] == "cholec80" and d["video"] >= 49)
        size = cfg.data.clip.size
        transform = functools.partial(eval_transform, resize=(size, size), crop=size)
        self.videos = []
        for number in numbers:
            video = read_video(str(world), "cholec80", number, transform)
            self.videos.append(preload(video))
        self.prompts = resources.read_lines(str(world / "prompts" / PROMPT_FILE))
        self.class_names = [re.sub(r"(?<=[a-z])(?=[A-Z])", " ", n) for n in resources.phase_names("cholec80")]
        self.max_length = cfg.data.clip.max_length
        self.frames = sum(len(v.labels) for v in self.videos)

    def __call__(self, model, tokenizer, label: str, clock: Clock, windows=(1,)):
        from surgvlp_fast.evaluation.zero_shot import zero_shot_phase_windows

        t0 = time.perf_counter()
        results = zero_shot_phase_windows(model, tokenizer, self.videos, self.prompts, self.class_names,
                                          windows=windows, name=label, max_length=self.max_length, batch_size=256)
        for window, result in results.items():
            suffix = f", {window} s smoothing" if window > 1 else ""
            result.name = label + suffix
            clock.say(f"zero-shot, {label}{suffix}: accuracy {result.metrics['accuracy']:.1f} %, "
                      f"F1 {result.metrics['f1']:.1f} %")
        clock.say(f"  ({len(self.videos)} videos, {self.frames} frames, {time.perf_counter() - t0:.1f} s)")
        return results


def make_or_reuse_world(world: Path, args, clock: Clock) -> dict:
    from surgvlp_fast.synthetic import make_world

    if args.reuse_world and (world / "world.json").exists():
        clock.say(f"reusing the synthetic world in {world}")
        return json.loads((world / "world.json").read_text())
    clock.say(f"generating the synthetic world (preset {args.preset}) in {world} ...")
    info = make_world(str(world), preset=args.preset, seed=args.seed, workers=args.workers, overwrite=True)
    downstream = sum(d["duration"] for d in info["downstream"])
    clock.say(f"world ready: {len(info['lectures'])} lectures, {len(info['downstream'])} downstream videos "
              f"({downstream} frames) in {info['seconds']:.0f} s")
    return info


def epochs_that_fit(done_epochs: int, step: int, per_step: float, left: float, steps_for, max_steps: int = 0) -> int:
    """The most epochs (at least `done_epochs`) whose steps after `step` take at most `left` seconds
    at `per_step` each, and no more than `max_steps` steps in all (0: no cap); `steps_for(epochs)`
    counts the steps of that many epochs."""
    epochs = done_epochs
    while (steps_for(epochs + 1) - step) * per_step <= left and (not max_steps or steps_for(epochs + 1) <= max_steps):
        epochs += 1
    return epochs


def pretrain(cfg, tokenizer, work_dir: str, seconds: float, clock: Clock, max_steps: int = 0):
    """Train `cfg` with as many epochs as fit in `seconds`. The first epoch warms up (it starts the
    loader workers and meets every level's shapes once, which costs more than a step); from the
    second on, the cosine schedule is laid over the epochs that fit at the mean step time since then,
    re-fitted after every epoch (the machine's speed drifts). The schedule's warm-up
    (configs/demo.yaml) covers the first two epochs, so that the first fit changes no learning rate."""
    from surgvlp_fast.pretrain.build import build_training_data
    from surgvlp_fast.training.schedule import total_steps
    from surgvlp_fast.training.trainer import Trainer

    class BudgetedTrainer(Trainer):
        fit_to_budget = None

        def end_of_epoch(self, epoch: int) -> None:
            super().end_of_epoch(epoch)
            if self.fit_to_budget is not None and epoch + 1 < self.cfg.train.epochs:
                self.fit_to_budget(epoch + 1)

    deadline = time.perf_counter() + seconds
    with BudgetedTrainer(cfg, work_dir, build_training_data(cfg.data, tokenizer, seed=cfg.seed, validation=bool(cfg.validation.every_epochs))) as trainer:
        sched = cfg.schedule

        def steps_for(epochs):
            return total_steps(epochs, trainer.lengths, sched.mode, sched.every, sched.batches, cfg.train.accumulate)

        def fit_to_budget(done_epochs: int) -> tuple[float, float]:
            """Set the epochs that fit in the time left; (seconds per step so far, seconds left)."""
            per_step = (time.perf_counter() - t0) / max(1, trainer.progress.step - step0)
            left = deadline - time.perf_counter()
            epochs = epochs_that_fit(done_epochs, trainer.progress.step, per_step, left, steps_for, max_steps)
            if epochs != trainer.cfg.train.epochs:
                trainer.set_schedule(epochs)   # the cosine schedule over the steps that fit; config.yaml rewritten
            return per_step, left

        warm_up, calibration = steps_for(1), steps_for(2)
        if max_steps:
            calibration = min(calibration, max_steps)
            warm_up = min(warm_up, calibration - 1)
        if warm_up:
            trainer.train(max_steps=warm_up)
        t0, step0 = time.perf_counter(), trainer.progress.step
        trainer.train(max_steps=calibration)
        per_step, left = fit_to_budget(trainer.progress.epoch)
        clock.say(f"calibration: {per_step:.2f} s per step; training {trainer.cfg.train.epochs} epochs = "
                  f"{trainer.total_steps} steps (about {(trainer.total_steps - calibration) * per_step:.0f} s of the "
                  f"{left:.0f} s left; re-fitted after every epoch)")
        trainer.fit_to_budget = fit_to_budget
        trainer.train(max_steps=max_steps or None)
    return trainer.model.eval()


def check_arguments(args) -> None:
    from surgvlp_fast.config import ConfigError
    from surgvlp_fast.synthetic.world import PRESETS

    if args.preset not in PRESETS:
        raise ConfigError(f"--preset {args.preset!r}: choose one of {', '.join(PRESETS)}")
    if args.budget_minutes <= 0 or args.max_steps < 0 or args.threads < 0 or (args.workers or 1) < 1:
        raise ConfigError("--budget-minutes must be > 0, --workers ≥ 1, --max-steps and --threads ≥ 0")


def run(args) -> int:
    import torch

    from surgvlp_fast.training.config import load_config
    from surgvlp_fast.evaluation import write_report
    from surgvlp_fast.evaluation.reports import format_table
    from surgvlp_fast.models import build_model, load_tokenizer

    check_arguments(args)
    clock = Clock(60.0 * args.budget_minutes)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out).resolve()
    world = out / "world"
    clock.say(f"budget {args.budget_minutes:g} min on {torch.get_num_threads()} CPU threads; output in {out}")
    # the config and the overrides are checked before the world is generated (minutes)
    cfg = load_config(args.config, [f"data.root={world}", f"model.text.tokenizer={world / 'tokenizer'}",
                                    f"seed={args.seed}", *args.overrides])
    info = make_or_reuse_world(world, args, clock)
    tokenizer = load_tokenizer(str(world / "tokenizer"))
    task = ZeroShotTask(world, info, cfg)
    torch.manual_seed(cfg.seed)
    untrained_model = build_model(cfg.model, tokenizer)
    t0 = clock.elapsed()
    untrained = task(untrained_model, tokenizer, "untrained (random init)", clock)[1]
    reserve = 2 * (clock.elapsed() - t0) + 25.0  # the final evaluation, the pictures (about 15 s) and the exit

    clock.say(f"pretraining {cfg.method} ({args.config}) within the {clock.left() - reserve:.0f} s left ...")
    model = pretrain(cfg, tokenizer, str(out / "run"), clock.left() - reserve, clock, args.max_steps)
    results = task(model, tokenizer, "pretrained", clock, windows=(1, 5))
    trained, smoothed = results[1], results[5]
    trained.name = "zero-shot on held-out synthetic videos after pretraining"
    chance = 100.0 / len(task.class_names)
    rows = [[r.name, r.metrics["accuracy"], r.metrics["f1"], float(sum(r.metrics["recall_per_class"]) / len(
        r.metrics["recall_per_class"]))] for r in (untrained, trained, smoothed)]
    rows[1][0] = "pretrained"
    rows.append(["chance (7 phases)", chance, "-", chance])
    print(format_table(["zero-shot phase recognition", "accuracy %", "F1 %", "mean phase recall %"], rows,
                       title=f"Synthetic Cholec80-style test videos: {len(task.videos)} held-out videos, "
                             f"{task.frames} frames"), flush=True)
    written = write_report({"zero_shot": trained}, out, extra={
        "demo": {"seconds": clock.elapsed(), "budget_minutes": args.budget_minutes, "preset": args.preset,
                 "seed": args.seed, "threads": torch.get_num_threads(), "chance": chance,
                 "untrained": untrained.metrics, "smoothed_5s": smoothed.metrics}})
    for what, path in written.items():
        clock.say(f"{what}: {path}")
    clock.say(f"done in {clock.elapsed():.0f} s")
    return 0
