"""One training step of the released architecture on a GPU, through the project's Trainer and data pipeline.

ResNet-50 (random weights) + a BERT-base-sized text model (12 layers, 768 wide, built from a
transformers BertConfig, no download) on configs/peskavlp.yaml at the paper's per-GPU batch sizes
(clip 120 with 3 views of 4 frames, keystep 80 of 16 frames, video 25 of 64 frames, all 336 px),
with the real data pipeline (build_training_data, DataLoader workers, native sampler) on a
synthetic world (make_world preset "default": 40 lectures of 60-120 s, 384 px H.264).
Cells: a precision (bf16; fp16 with the GradScaler), with or without train.compile, with or without
model.gradient_checkpointing. Per cell and level, after `--warmup` steps: the median step time of
`--steps` steps (CUDA synchronised), peak CUDA memory, and the fraction of the step time spent in
the stream's `next()` (waiting for the DataLoader). A level that runs out of memory is reported
as "oom". Cells are measured in order and written (JSON and CSV rows) as each one ends, so a run
stopped by its time limit keeps what it measured.

    python benchmarks/bench_gpu_train.py [--cells bf16 fp16+ckpt bf16+ckpt+compile ...] [--json OUT]
"""
import argparse
import gc
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness import (Metric, bench_parser, cuda_device, finish, markdown_table, measurement_rows,  # noqa: E402
                     print_json_line, record, write_json)

BATCH = {"clip": 120, "keystep": 80, "video": 25}
CELLS = ["bf16", "bf16+ckpt", "fp16+ckpt", "bf16+ckpt+compile", "fp16+ckpt+compile"]
METRICS = [Metric("step_s", "step time", "ms", ".1f", 1000),
           Metric("peak_bytes", "peak CUDA memory", "GiB", ".2f", 2**-30),
           Metric("data_wait_fraction", "data wait fraction", "", ".3f")]


def parse_cell(cell: str) -> dict:
    """"bf16+ckpt+compile" -> {"precision": "bf16", "checkpointing": True, "compile": True}."""
    precision, *flags = cell.split("+")
    if precision not in ("bf16", "fp16") or not set(flags) <= {"ckpt", "compile"}:
        raise argparse.ArgumentTypeError(f"cell {cell!r}: bf16 or fp16, then optional +ckpt, +compile")
    return {"precision": precision, "checkpointing": "ckpt" in flags, "compile": "compile" in flags}


def cell_name(text: str) -> str:
    """argparse type of --cells: a valid cell name."""
    parse_cell(text)
    return text


def overrides(world: str, cell: dict, num_workers: int) -> list:
    """configs/peskavlp.yaml overrides: the world, a random BERT-base from its config, the paper's batches."""
    out = [f"data.root={world}", f"model.text.tokenizer={world}/tokenizer", "model.text.path=",
           "model.vision.weights=random", f"data.num_workers={num_workers}", "device=cuda",
           f"train.precision={cell['precision']}", "train.grad_scaler=true",
           f"train.compile={str(cell['compile']).lower()}",
           f"model.gradient_checkpointing={str(cell['checkpointing']).lower()}",
           "train.progress_bar=false", "train.tensorboard=false", "validation.every_epochs=0", "eval.every_epochs=0"]
    return out + [f"data.{level}.batch_size={b}" for level, b in BATCH.items()]


def make_synthetic_world(folder: str) -> str:
    from surgvlp_fast.synthetic import make_world

    if not os.path.exists(os.path.join(folder, "world.json")):
        make_world(folder, "default", seed=0, size=384, overwrite=True)  # 360 px: see the report
    return folder


def count_waits(stream, waits: list) -> None:
    """Time every `stream.next()` (the wait for the DataLoader's next batch) into `waits`."""
    original = stream.next

    def next_batch():
        start = time.perf_counter()
        batch = original()
        waits.append(time.perf_counter() - start)
        return batch

    stream.next = next_batch


def measure_level(trainer, level: str, warmup: int, steps: int) -> dict:
    """{"step_s", "peak_bytes", "data_wait_fraction"} or {"error": "oom"}."""
    waits = []
    count_waits(trainer.streams[level], waits)
    try:
        for _ in range(warmup):
            trainer.train_step(level, 1)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        waits.clear()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            trainer.train_step(level, 1)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return {"step_s": sorted(times)[len(times) // 2], "peak_bytes": torch.cuda.max_memory_allocated(),
                "data_wait_fraction": sum(waits) / sum(times)}
    except torch.cuda.OutOfMemoryError:
        return {"error": "oom"}
    finally:
        trainer.optimizer.zero_grad(set_to_none=True)
        gc.collect()
        torch.cuda.empty_cache()


def measure_cell(world: str, work_dir: str, cell: str, levels, warmup: int, steps: int, num_workers: int) -> dict:
    from surgvlp_fast.models import load_tokenizer
    from surgvlp_fast.pretrain.build import build_training_data
    from surgvlp_fast.training.config import load_config
    from surgvlp_fast.training.trainer import Trainer

    cfg = load_config(os.path.join(ROOT, "configs", "peskavlp.yaml"), overrides(world, parse_cell(cell), num_workers))
    data = build_training_data(cfg.data, load_tokenizer(cfg.model.text.tokenizer_path()), seed=cfg.seed,
                               validation=bool(cfg.validation.every_epochs))
    started = time.perf_counter()
    with Trainer(cfg, os.path.join(work_dir, cell), data) as trainer:
        out = {"cell": cell, "levels": {lv: measure_level(trainer, lv, warmup, steps) for lv in levels}}
    out["seconds"] = time.perf_counter() - started
    del trainer
    gc.collect()
    torch.cuda.empty_cache()
    return out


def rows_of(results):
    """results.csv rows of a results dict (the JSON this script writes)."""
    return [row for entry in results["cells"] for level, r in entry["levels"].items()
            for row in measurement_rows(f"gpu_train_step_{level}",
                                        f"ResNet-50 + BERT-base, batch {BATCH[level]}, peskavlp",
                                        {entry["cell"]: r}, METRICS, error_metric="step")]


def table(results) -> str:
    """Markdown table: one row per cell and level; the cells a time limit cut are listed below."""
    lines = []
    for e in results["cells"]:
        for level, r in e["levels"].items():
            if "error" in r:
                lines.append([e["cell"], level, BATCH[level], r["error"], "", ""])
            else:
                lines.append([e["cell"], level, BATCH[level], f"{r['step_s'] * 1000:.0f}",
                              f"{r['peak_bytes'] / 2**30:.1f}", f"{r['data_wait_fraction']:.1%}"])
    text = markdown_table(["cell", "level", "batch", "step ms", "peak GiB", "data wait"], lines)
    done = {e["cell"] for e in results["cells"]}
    missing = [c for c in results.get("planned", []) if c not in done]
    if missing:
        text += f"\n\nNot measured (stopped by the time limit or a failure): {', '.join(missing)}"
    return text


def main(argv=None):
    parser = bench_parser(__doc__, workdir="surgvlp_bench_gpu_train", json_out=True)
    parser.add_argument("--cells", nargs="+", type=cell_name, default=CELLS,
                        help="precision[+ckpt][+compile], in order")
    parser.add_argument("--levels", nargs="+", default=list(BATCH), choices=list(BATCH))
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--num-workers", type=int, default=8)
    args = parser.parse_args(argv)
    device = cuda_device("bench_gpu_train")
    if device is None:
        return 2
    world = make_synthetic_world(os.path.join(args.workdir, "world"))
    results = {"device": device, "planned": args.cells, "cells": []}
    for cell in args.cells:
        write_json(args, results)   # before each cell: a run stopped inside it still reports the cells before
        entry = measure_cell(world, os.path.join(args.workdir, "runs"), cell, args.levels, args.warmup, args.steps,
                             args.num_workers)
        results["cells"].append(entry)
        print_json_line(entry)
        record(args, rows_of({"cells": [entry]}))   # as each cell ends
    finish(args, table(results), results=results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
