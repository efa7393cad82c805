"""`surgvlp-fast predict`: a phase timeline of each of one's own videos (zero-shot, or a linear-probe
head that `eval` saved), as CSV, JSON and a ribbon PNG per video, with the run's summary table.

    surgvlp-fast predict PeskaVLP.zip case1.mp4 case2.mp4 --classes cholec80 --out timelines/ --smooth 5 \\
        --text-model models/Bio_ClinicalBERT
    surgvlp-fast predict runs/demo/last.pt videos/ --probe probe-head.pt --out timelines/
"""
from __future__ import annotations

import os
import time

from .options import (add_frame_arguments, add_model_arguments, debugging, frame_options, list_failures, one_line,
                      resolve_device, say, shard_of, text_model_overrides, write_summary)


def add_arguments(parser):
    parser.add_argument("checkpoint", help="our checkpoint or a released SurgVLP/HecVL/PeskaVLP .zip or .pth")
    parser.add_argument("videos", nargs="+", metavar="VIDEO", help="video files (any FFmpeg reads) or folders of them")
    parser.add_argument("--classes", default=None, help="cholec80 | autolaparo | a file: one class per line, "
                        "'Name: prompt | prompt' (zero-shot; required unless --probe)")
    parser.add_argument("--probe", default=None, metavar="HEAD", help="a linear-probe head saved by `eval -o "
                        "probe_out=HEAD` on this checkpoint: classify with it instead of zero-shot")
    parser.add_argument("--out", required=True, help="folder for <video>.csv, .json, .png and summary.csv")
    parser.add_argument("--smooth", type=float, default=0.0, help="moving average of frame embeddings over this "
                        "many seconds (0 = none)")
    parser.add_argument("--overwrite", action="store_true", help="predict again videos whose outputs exist")
    parser.add_argument("--shard", default=None, help="I/N: this process predicts videos I, I+N, ... (0-based; "
                        "default under torchrun: RANK/WORLD_SIZE)")
    add_model_arguments(parser)
    add_frame_arguments(parser)


def load_checkpoint(args, device):
    from surgvlp_fast.hub import config_for, load_model

    return load_model(args.checkpoint, config_for(args.checkpoint, args.config), text_model_overrides(args), device,
                      echo=say)


def read_probe(args):
    """The probe head of `--probe` (checked before the model is loaded), or None."""
    if args.probe is None:
        return None
    from surgvlp_fast.evaluation.linear_probe import read_probe_head

    return read_probe_head(args.probe)


def classifier(args, model, tokenizer, cfg, head, device):
    """The ClassEmbeddings of `--classes`, or the ProbeClassifier of `--probe` once it matches the model."""
    from .predict import ClassEmbeddings
    from .probe import ProbeClassifier

    if head is None:
        return ClassEmbeddings(model, tokenizer, args.classes, max_length=min(77, cfg.model.text.max_positions),
                               device=device)
    from surgvlp_fast.evaluation.linear_probe import check_probe_head

    check_probe_head(head, model, args.probe)
    return ProbeClassifier(head.weight, head.bias, head.class_names, source=os.path.abspath(args.probe))


def run(args) -> int:
    from surgvlp_fast.config import ConfigError
    from surgvlp_fast.evaluation.linear_probe import ProbeMismatchError
    from surgvlp_fast.evaluation.reports import format_table

    from .batch import predict_videos, summary_rows
    from .classes import class_set
    from .predict import smoothing_window

    started = time.perf_counter()
    if (args.classes is None) == (args.probe is None):
        raise ConfigError("give --classes (zero-shot) or --probe HEAD (a linear-probe head), one of the two")
    try:   # the arguments are checked before the model is loaded
        shard = shard_of(args)
        head = read_probe(args)
        given = {k: getattr(args, k) for k in ("resize", "crop") if getattr(args, k) is not None}
        if head is not None:   # the head's features: the frame settings it was trained on
            for key, value in given.items():
                if str(value) != str(head.settings[key]):
                    raise ValueError(f"--{key} {value}: the probe head {args.probe} was trained on {key} "
                                     f"{head.settings[key]} features (omit the option to use it)")
            args.resize, args.crop = str(head.settings["resize"]), int(head.settings["crop"])
        options = frame_options(args)
        smoothing_window(args.smooth, options["fps"])
        names = class_set(args.classes).names if head is None else tuple(head.class_names)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    device = resolve_device(args.device, int(os.environ.get("LOCAL_RANK", 0)))
    model, tokenizer, cfg = load_checkpoint(args, device)
    try:
        classes = classifier(args, model, tokenizer, cfg, head, device)
    except ProbeMismatchError as e:
        return one_line("predict", e, args)
    report = predict_videos(model, tokenizer, args.videos, classes, args.out, overwrite=args.overwrite, shard=shard,
                            echo=say, progress=not args.no_progress, debug=debugging(args), smooth=args.smooth,
                            device=device, **options)
    header, rows = summary_rows(report, names)
    if rows:
        suffix = "" if shard == (0, 1) else f"-shard{shard[0]}of{shard[1]}"
        write_summary(os.path.join(args.out, f"summary{suffix}.csv"), header, rows)
        print(format_table(header, rows, title=f"Timelines in {args.out} (seconds per class)"))
    say(f"{len(report.done)} predicted, {len(report.skipped)} skipped, {len(report.failed)} failed "
        f"in {time.perf_counter() - started:.1f} s")
    return list_failures("predict", report.failed)
