"""`surgvlp-fast index`: every second of a folder of videos embedded once into an index folder
(appending new videos to an existing index; inference/index.py).

    surgvlp-fast index PeskaVLP.zip videos/ --out library.index --text-model models/Bio_ClinicalBERT
"""
from __future__ import annotations

import os

from .options import (add_frame_arguments, add_model_arguments, frame_options, list_failures, one_line,
                      resolve_device, say, text_model_overrides)


def add_arguments(parser):
    parser.add_argument("checkpoint", help="our checkpoint or a released .zip / .pth")
    parser.add_argument("videos", nargs="+", metavar="VIDEO_DIR", help="folders of videos (or video files)")
    parser.add_argument("--out", required=True, help="the index folder (created, or appended to)")
    add_model_arguments(parser)
    add_frame_arguments(parser)


def load_checkpoint(args, device):
    from surgvlp_fast.hub import config_for, load_model

    return load_model(args.checkpoint, config_for(args.checkpoint, args.config), text_model_overrides(args), device,
                      echo=say)


def run(args) -> int:
    from .index import IndexMismatchError

    try:
        return build(args)
    except IndexMismatchError as e:
        return one_line("index", e, args)


def build(args) -> int:
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
                           amp_dtype=options["amp_dtype"], threads=options["threads"], echo=say, on_open=opened,
                           progress=lambda n: bars[-1].update(n))
    finally:
        for bar in bars:
            bar.close()
    say(f"{args.out}: {len(report['added'])} videos added, {len(report['skipped'])} already indexed, "
        f"{len(report['failed'])} failed; {index.rows} seconds of {len(index.videos)} videos")
    return list_failures("index", report["failed"])
