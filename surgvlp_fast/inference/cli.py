"""`surgvlp-fast predict`, `surgvlp-fast index` and `surgvlp-fast search`: the inference commands
(one module; `add_arguments` and `run` pick the command by its name).

    surgvlp-fast predict PeskaVLP.zip case1.mp4 case2.mp4 --classes cholec80 --out timelines/ --smooth 5 \\
        --text-model models/Bio_ClinicalBERT
    surgvlp-fast index PeskaVLP.zip videos/ --out library.index --text-model models/Bio_ClinicalBERT
    surgvlp-fast search library.index "the clipper clips the cystic duct" --top 10 --thumbnails hits.png
"""
from __future__ import annotations

import os
import sys
import time


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


def add_arguments(parser):
    command = parser.prog.split()[-1]
    if command == "predict":
        parser.add_argument("checkpoint", help="our checkpoint or a released SurgVLP/HecVL/PeskaVLP .zip or .pth")
        parser.add_argument("videos", nargs="+", metavar="VIDEO",
                            help="video files (any FFmpeg reads) or folders of them")
        parser.add_argument("--classes", required=True, help="cholec80 | autolaparo | a file: one class per line, "
                            "'Name: prompt | prompt'")
        parser.add_argument("--out", required=True, help="folder for <video>.csv, .json, .png and summary.csv")
        parser.add_argument("--smooth", type=float, default=0.0, help="moving average of frame embeddings over this "
                            "many seconds (0 = none)")
        parser.add_argument("--overwrite", action="store_true", help="predict again videos whose outputs exist")
        parser.add_argument("--shard", default=None, help="I/N: this process predicts videos I, I+N, ... (0-based; "
                            "default under torchrun: RANK/WORLD_SIZE)")
        add_model_arguments(parser)
        add_frame_arguments(parser)
    elif command == "index":
        parser.add_argument("checkpoint", help="our checkpoint or a released .zip / .pth")
        parser.add_argument("videos", nargs="+", metavar="VIDEO_DIR", help="folders of videos (or video files)")
        parser.add_argument("--out", required=True, help="the index folder (created, or appended to)")
        add_model_arguments(parser)
        add_frame_arguments(parser)
    else:
        parser.add_argument("index", help="an index folder (`surgvlp-fast index`)")
        parser.add_argument("text", help="what to find; several phrasings separated by ' | ' are averaged")
        parser.add_argument("--top", type=int, default=10, help="moments to return (default 10)")
        parser.add_argument("--thumbnails", default=None, metavar="FILE.png", help="write a contact sheet of the hits")
        parser.add_argument("--json", action="store_true", help="print the moments as JSON")
        parser.add_argument("--checkpoint", default=None, help="the model (default: the checkpoint the index records)")
        add_model_arguments(parser)


def resolve_device(name: str, local_rank: int = 0) -> str:
    import torch

    if name != "auto":
        return name
    return f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"


def amp_dtype(name: str):
    import torch

    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def load_checkpoint(args, device, echo=True):
    from surgvlp_fast.hub import config_for, load_model

    overrides = [f"model.text.path={args.text_model}"] if args.text_model else []
    model, tokenizer, cfg = load_model(args.checkpoint, config_for(args.checkpoint, args.config), overrides, device,
                                       echo=(lambda line: print(line, flush=True)) if echo else None)
    return model, tokenizer, cfg


FRAME_DEFAULTS = {"fps": 1.0, "preprocess": "official", "resize": "360x640", "crop": 224}


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
    from .batch import parse_shard

    if args.shard:
        return parse_shard(args.shard)
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return 0, 1


def run_predict(args) -> int:
    from surgvlp_fast.evaluation.reports import format_table

    from .batch import predict_videos, summary_rows
    from .classes import class_set
    from .predict import ClassEmbeddings, smoothing_window

    from surgvlp_fast.config import ConfigError

    started = time.perf_counter()
    try:   # the arguments are checked before the model is loaded
        shard = shard_of(args)
        options = frame_options(args)
        smoothing_window(args.smooth, options["fps"])
    except ValueError as e:
        raise ConfigError(str(e)) from None
    classes = class_set(args.classes)
    device = resolve_device(args.device, int(os.environ.get("LOCAL_RANK", 0)))
    model, tokenizer, cfg = load_checkpoint(args, device)
    embeddings = ClassEmbeddings(model, tokenizer, classes, max_length=min(77, cfg.model.text.max_positions),
                                 device=device)
    report = predict_videos(model, tokenizer, args.videos, embeddings, args.out, overwrite=args.overwrite,
                            shard=shard, echo=lambda line: print(line, flush=True), progress=not args.no_progress,
                            debug=args.debug or os.environ.get("SURGVLP_FAST_DEBUG") == "1", smooth=args.smooth,
                            device=device, **options)
    header, rows = summary_rows(report, classes.names)
    if rows:
        suffix = "" if shard == (0, 1) else f"-shard{shard[0]}of{shard[1]}"
        write_summary(os.path.join(args.out, f"summary{suffix}.csv"), header, rows)
        print(format_table(header, rows, title=f"Timelines in {args.out} (seconds per class)"))
    print(f"{len(report.done)} predicted, {len(report.skipped)} skipped, {len(report.failed)} failed "
          f"in {time.perf_counter() - started:.1f} s", flush=True)
    if report.failed:
        print(f"surgvlp-fast predict: {len(report.failed)} video(s) failed:", file=sys.stderr)
        for reason in report.failed.values():
            print(f"  {reason}", file=sys.stderr)
        return 1
    return 0


def write_summary(path, header, rows):
    import csv

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)


def run_index(args) -> int:
    from surgvlp_fast.config import ConfigError

    from .batch import expand_videos
    from .embed import FrameSettings
    from .index import Index

    index = Index(args.out) if os.path.exists(args.out) and (not os.path.isdir(args.out) or os.listdir(args.out)) \
        else None
    try:
        options = frame_options(args, index.settings if index is not None else None)
        settings = FrameSettings(options["fps"], options["preprocess"], options["resize"], options["crop"])
    except ValueError as e:
        raise ConfigError(str(e)) from None
    model, _, _ = load_checkpoint(args, resolve_device(args.device))
    if index is None:
        index = Index.create(args.out, model, settings, checkpoint=os.path.abspath(args.checkpoint))
    bars = []

    def opened(total):
        from tqdm import tqdm

        bars.append(tqdm(total=total, unit="s", desc="embedding", disable=args.no_progress, leave=False))

    try:
        report = index.add(model, expand_videos(args.videos), batch_size=options["batch_size"],
                           amp_dtype=options["amp_dtype"], threads=options["threads"],
                           echo=lambda line: print(line, flush=True), on_open=opened,
                           progress=lambda n: bars[-1].update(n))
    finally:
        for bar in bars:
            bar.close()
    print(f"{args.out}: {len(report['added'])} videos added, {len(report['skipped'])} already indexed, "
          f"{len(report['failed'])} failed; {index.rows} seconds of {len(index.videos)} videos", flush=True)
    if report["failed"]:
        print(f"surgvlp-fast index: {len(report['failed'])} video(s) failed:", file=sys.stderr)
        for reason in report["failed"].values():
            print(f"  {reason}", file=sys.stderr)
        return 1
    return 0


def run_search(args) -> int:
    import json

    from surgvlp_fast.config import ConfigError

    from .index import Index

    if args.top < 1:
        raise ConfigError(f"--top must be at least 1, got {args.top}")
    if not args.text.replace("|", "").strip():
        raise ConfigError("the search text is empty")
    index = Index(args.index)
    checkpoint = args.checkpoint or index.meta.get("checkpoint")
    if not checkpoint:
        raise ConfigError(f"{args.index}: records no checkpoint; pass --checkpoint")
    args.checkpoint = checkpoint
    model, tokenizer, _ = load_checkpoint(args, resolve_device(args.device), echo=not args.json)
    index.check_model(model)
    moments = index.search(model, tokenizer, args.text, top=args.top, check=False)
    if args.json:
        print(json.dumps([m.as_dict() for m in moments], indent=1))
    else:
        from surgvlp_fast.evaluation.reports import format_table

        def shown(path):   # relative to here when below here
            relative = os.path.relpath(path)
            return path if relative.startswith("..") else relative

        rows = [[i + 1, shown(m.video), f"{m.start:.0f}", f"{m.end:.0f}", f"{m.score:.4f}"]
                for i, m in enumerate(moments)]
        print(format_table(["#", "video", "start s", "end s", "score"], rows, title=f"search: {args.text}"))
    if args.thumbnails:
        from .sheet import contact_sheet

        print(f"contact sheet: {contact_sheet(args.thumbnails, moments, args.text)}")
    return 0


def run(args) -> int:
    from .index import IndexMismatchError

    commands = {"predict": run_predict, "index": run_index, "search": run_search}
    try:
        return commands[args.command](args)
    except IndexMismatchError as e:
        if args.debug:
            raise
        print(f"surgvlp-fast {args.command}: {e}", file=sys.stderr)
        return 1
