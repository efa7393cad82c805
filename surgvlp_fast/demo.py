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

import dataclasses
import json
import os
import time
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
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


def eval_options(world: Path, info: dict, cfg):
    """Zero-shot phase recognition on the world's held-out Cholec80-style videos (49 onwards)."""
    from surgvlp_fast.evaluation import EvalOptions

    tests = sorted(d["video"] for d in info["downstream"] if d["dataset"] == "cholec80" and d["video"] >= 49)
    size = cfg.data.clip.size
    return EvalOptions(videos=",".join(map(str, tests)), prompts=str(world / "prompts" / PROMPT_FILE),
                       resize=f"{size}x{size}", crop=size, max_length=cfg.data.clip.max_length, batch_size=256)


def make_or_reuse_world(world: Path, args, clock: Clock) -> dict:
    from surgvlp_fast.data.synthetic import make_world

    if args.reuse_world and (world / "world.json").exists():
        clock.say(f"reusing the synthetic world in {world}")
        return json.loads((world / "world.json").read_text())
    clock.say(f"generating the synthetic world (preset {args.preset}) in {world} ...")
    info = make_world(str(world), preset=args.preset, seed=args.seed, workers=args.workers, overwrite=True)
    downstream = sum(d["duration"] for d in info["downstream"])
    clock.say(f"world ready: {len(info['lectures'])} lectures, {len(info['downstream'])} downstream videos "
              f"({downstream} frames) in {info['seconds']:.0f} s")
    return info


def zero_shot(model, tokenizer, world: Path, options, label: str, clock: Clock, smooth: int = 1):
    from surgvlp_fast.evaluation import evaluate

    t0 = time.perf_counter()
    result = evaluate("cholec80", model, tokenizer, str(world), dataclasses.replace(options, smooth_window=smooth))
    result.name = label
    clock.say(f"{label}: accuracy {result.metrics['accuracy']:.1f} %, F1 {result.metrics['f1']:.1f} % "
              f"({result.metrics['frames']} frames, {time.perf_counter() - t0:.1f} s)")
    return result


def run(args) -> int:
    import torch

    from surgvlp_fast.config import load_config
    from surgvlp_fast.evaluation import write_report
    from surgvlp_fast.evaluation.reports import format_table
    from surgvlp_fast.models import build_model, load_tokenizer
    from surgvlp_fast.training.budget import train_within_budget

    clock = Clock(60.0 * args.budget_minutes)
    out = Path(args.out).resolve()
    world = out / "world"
    clock.say(f"budget {args.budget_minutes:g} min on {torch.get_num_threads()} CPU threads; output in {out}")
    info = make_or_reuse_world(world, args, clock)

    cfg = load_config(args.config, [f"data.root={world}", f"model.text.tokenizer={world / 'tokenizer'}",
                                    f"seed={args.seed}", *args.overrides])
    tokenizer = load_tokenizer(str(world / "tokenizer"))
    options = eval_options(world, info, cfg)

    torch.manual_seed(cfg.seed)
    t0 = clock.elapsed()
    untrained = zero_shot(build_model(cfg.model, tokenizer), tokenizer, world, options, "untrained (random init)", clock)
    chance = 100.0 / len(untrained.class_names)
    eval_reserve = 2 * (clock.elapsed() - t0) + 15.0  # two evaluations and the pictures
    clock.say(f"pretraining {cfg.method} ({args.config}) for the {clock.left() - eval_reserve:.0f} s left ...")
    model = train_within_budget(cfg, str(out / "run"), clock.left() - eval_reserve, max_steps=args.max_steps,
                                say=clock.say)

    trained = zero_shot(model, tokenizer, world, options, "pretrained", clock)
    smoothed = zero_shot(model, tokenizer, world, options, "pretrained, 5 s smoothing", clock, smooth=5)
    rows = [[r.name, r.metrics["accuracy"], r.metrics["f1"]] for r in (untrained, trained, smoothed)]
    rows.append(["chance (7 phases)", chance, float("nan")])
    print(format_table(["zero-shot phase recognition", "accuracy %", "F1 %"], rows,
                       title=f"Synthetic Cholec80 test videos ({len(trained.per_video)} held-out videos, "
                             f"{trained.metrics['frames']} frames)"))
    trained.name = "zero_shot"
    written = write_report({"zero_shot": trained}, out, extra={
        "demo": {"seconds": clock.elapsed(), "budget_minutes": args.budget_minutes, "preset": args.preset,
                 "seed": args.seed, "threads": torch.get_num_threads(),
                 "untrained": untrained.metrics, "smoothed_5s": smoothed.metrics, "chance": chance}})
    for what, path in written.items():
        clock.say(f"{what}: {path}")
    clock.say(f"done in {clock.elapsed():.0f} s")
    return 0
