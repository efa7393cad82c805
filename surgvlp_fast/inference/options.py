"""What the `predict`, `index` and `search` commands share: their option builders (model, frames) and
the checks and helpers behind them (device, autocast, frame settings, shards, failure lists). Loading
a checkpoint is the commands' own (it needs surgvlp_fast.hub, above this part)."""
from __future__ import annotations

import os
import sys

FRAME_DEFAULTS = {"fps": 1.0, "preprocess": "official", "resize": "360x640", "crop": 224}


def add_model_arguments(parser):
    parser.add_argument("--config", default=None, help="training config describing the model (default: config.yaml "
                        "beside the checkpoint, or the shipped one of a released file)")
    parser.add_argument("--text-model", default=None, help="local Hugging Face folder of the text model (the released "
                        "models need Bio_ClinicalBERT's)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 (default: cuda when available)")


def add_frame_arguments(parser):
    parser.add_argument("--fps", type=float, default=None, help="frames sampled per second of video (default 1)")
    parser.add_argument("--batch-size", type=int, default=64, help="frames per model batch (bounds the memory)")
    parser.add_argument("--preprocess", choices=("official", "fast"), default=None,
                        help="official (default): the protocols' PIL preprocessing (same predictions as `eval`); "
                             "fast: resize in the decoder, crop and normalise as tensors")
    parser.add_argument("--resize", default=None, help="frames resized to HxW before the centre crop (default 360x640)")
    parser.add_argument("--crop", type=int, default=None, help="centre crop side (default 224)")
    parser.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none", help="autocast of the image encoder")
    parser.add_argument("--threads", type=int, default=1, help="decoding threads per video")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def text_model_overrides(args) -> list[str]:
    """The config overrides `--text-model` stands for."""
    return [f"model.text.path={args.text_model}"] if args.text_model else []


def say(line: str) -> None:
    print(line, flush=True)


def debugging(args) -> bool:
    return bool(getattr(args, "debug", False)) or os.environ.get("SURGVLP_FAST_DEBUG") == "1"


def resolve_device(name: str, local_rank: int = 0) -> str:
    import torch

    if name != "auto":
        return name
    return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"


def amp_dtype(name: str):
    import torch

    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def frame_options(args, recorded=None) -> dict:
    """The frame settings given (else `recorded`'s: an index's, else the defaults) and the run options.
    A setting given that differs from the recorded one is an error: an index holds one kind of embedding."""
    from dataclasses import asdict

    from .embed import FrameSettings, parse_size

    given = {k: getattr(args, k) for k in FRAME_DEFAULTS if getattr(args, k) is not None}
    if "resize" in given:
        given["resize"] = parse_size(given["resize"])
    defaults = {**FRAME_DEFAULTS, "resize": parse_size(FRAME_DEFAULTS["resize"])}
    base = asdict(recorded) if recorded is not None else defaults
    for key, value in given.items():
        if recorded is not None and value != base[key]:
            raise ValueError(f"--{key} {getattr(args, key)}: the index was built with {key} {base[key]} "
                             f"(omit the option to use it)")
    settings = FrameSettings(**{**base, **given})
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    return dict(asdict(settings), batch_size=args.batch_size, amp_dtype=amp_dtype(args.amp), threads=args.threads)


def shard_of(args) -> tuple[int, int]:
    """`--shard I/N`, else torchrun's RANK / WORLD_SIZE, else (0, 1)."""
    from ..config import parse_shard

    if args.shard:
        return parse_shard(args.shard)
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return 0, 1


def write_summary(path, header, rows):
    """The run's table as a CSV, written whole (a temporary file, then renamed)."""
    import csv

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)


def list_failures(command: str, failed: dict) -> int:
    """Name each failed video on stderr under one heading; 1 if any failed, else 0."""
    if not failed:
        return 0
    print(f"surgvlp-fast {command}: {len(failed)} video(s) failed:", file=sys.stderr)
    for reason in failed.values():
        print(f"  {reason}", file=sys.stderr)
    return 1


def one_line(command: str, error: Exception, args) -> int:
    """A mismatch the user caused (index vs model, probe head vs model): one line and exit 1, or the
    traceback under --debug."""
    if debugging(args):
        raise error
    print(f"surgvlp-fast {command}: {error}", file=sys.stderr)
    return 1
