"""Run protocols by name on a model: the `eval` command, the demo and the trainer's hook use this."""
from __future__ import annotations

import dataclasses
import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch

from . import reports
from .linear_probe import ProbeOptions
from .protocols import Protocol, get_protocol, parse_video_list


@dataclass
class EvalOptions:
    """Settings of a protocol run (all scalars, so they fit `eval.options` in a training config).
    Defaults are the reference protocol's."""

    max_length: int = 0          # prompt tokens; 0 = the protocol's (77 phase, 35 CholecT50)
    batch_size: int = 400
    num_workers: int = 0
    resize: str = "360x640"      # frames are resized to HxW (aspect not kept), then centre-cropped
    crop: int = 224
    videos: str = ""             # e.g. "49-55": a subset of the test videos ("" = the protocol's)
    train_videos: str = ""       # linear probe: training videos ("" = the protocol's train+val)
    prompts: str = ""            # a prompt file: one line per class, several prompts split by " | "
    smooth_window: int = 1       # phase: moving average of frame embeddings over this many frames (1 = off)
    frame_offset: int = -1       # -1 = the dataset's (Cholec80 +1, AutoLaparo 0); 1 = the reference's
    absent_ap: str = "nan"       # CholecT50: a class absent from a video is skipped ("nan") or scores 0 ("zero")
    amp: str = "none"            # none | bf16 | fp16: autocast for the image encoder
    cache_dir: str = ""          # linear probe: feature cache folder ("" = no cache)
    model_key: str = "model"     # linear probe: names the model's features in the cache
    probe_lr: float = ProbeOptions.lr                   # linear probe defaults: reference §6.3
    probe_weight_decay: float = ProbeOptions.weight_decay
    probe_momentum: float = ProbeOptions.momentum
    probe_epochs: int = ProbeOptions.epochs
    probe_batch_size: int = ProbeOptions.batch_size
    seed: int = 0
    retrieval_split: str = "splits/val.csv"   # retrieval: hold-out lectures of the pretraining data folder
    retrieval_frames: int = 10                # frames per segment, mean-pooled
    retrieval_max_segments: int = 1000        # per level (drawn with `seed` when there are more)
    narration: str = "aws"                    # retrieval clip level: aws | whisper

    @classmethod
    def from_mapping(cls, options: Mapping, protocol: str = "") -> "EvalOptions":
        """Keys apply to every protocol; `protocol.key` keys only to that one (and win)."""
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        values = {}
        for scoped in (False, True):
            for key, value in options.items():
                name, dot, field_name = key.rpartition(".")
                if scoped != bool(dot) or (dot and name != protocol):
                    continue
                if field_name not in fields:
                    raise ValueError(f"unknown evaluation option {key!r}; known: {', '.join(fields)}")
                values[field_name] = value
        return cls(**values)

    def resize_hw(self) -> tuple[int, int]:
        try:
            h, w = (int(v) for v in str(self.resize).lower().split("x"))
        except ValueError:
            raise ValueError(f"resize must look like 360x640, got {self.resize!r}") from None
        return h, w


def _amp_dtype(options: EvalOptions):
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[options.amp]


def _prompts(protocol: Protocol, options: EvalOptions) -> list[list[str]]:
    from surgvlp_fast.evaluation import resources

    if options.prompts:
        with open(options.prompts, encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
    else:
        lines = resources.class_prompts(protocol.dataset)
    return [[p.strip() for p in line.split(" | ") if p.strip()] for line in lines]


def _test_videos(protocol: Protocol, options: EvalOptions) -> list[int]:
    from surgvlp_fast.evaluation import resources

    return parse_video_list(options.videos) if options.videos else resources.split_videos(protocol.dataset, "test")


def phase_videos(data_root: str, dataset: str, numbers, options: EvalOptions) -> list:
    """Cholec80 / AutoLaparo videos (surgvlp_fast.evaluation.downstream) with the evaluation transform."""
    from surgvlp_fast.evaluation.downstream import phase_video
    from surgvlp_fast.models.preprocess import eval_transform

    transform = functools.partial(eval_transform, resize=options.resize_hw(), crop=options.crop)
    offset = None if options.frame_offset < 0 else options.frame_offset
    return [phase_video(data_root, dataset, n, transform, frame_index_offset=offset) for n in numbers]


def cholect50_videos(data_root: str, numbers, options: EvalOptions) -> list:
    """CholecT50 videos; frames centre-cropped to a square and resized to `crop` (reference §2.7)."""
    from surgvlp_fast.evaluation.downstream import cholect50_video
    from surgvlp_fast.models.preprocess import square_eval_transform

    transform = functools.partial(square_eval_transform, size=options.crop)
    return [cholect50_video(data_root, n, transform) for n in numbers]


def evaluate(name: str, model, tokenizer, data_root: str, options: EvalOptions = EvalOptions(), device="cpu",
             distributed: bool = False):
    """Run one protocol; returns the runner's result object (PhaseResult, TripletResult or a probe dict).
    `distributed=True` (zero-shot protocols, every rank calls) shares the videos among the ranks."""
    from surgvlp_fast.evaluation import resources

    protocol = get_protocol(name)
    common = dict(batch_size=options.batch_size, device=device, num_workers=options.num_workers,
                  amp_dtype=_amp_dtype(options))
    max_length = options.max_length or protocol.max_length
    if protocol.kind == "phase":
        from .zero_shot import zero_shot_phase

        videos = phase_videos(data_root, protocol.dataset, _test_videos(protocol, options), options)
        return zero_shot_phase(model, tokenizer, videos, _prompts(protocol, options), resources.phase_names(protocol.dataset),
                               name=name, max_length=max_length, smooth_window=options.smooth_window,
                               distributed=distributed, **common)
    if protocol.kind == "triplet":
        from .cholect50 import zero_shot_triplets

        vocabulary = resources.cholect50_vocabulary()
        texts = {key: [n.replace("_", " ") for n in vocabulary[key]] for key in ("instrument", "verb", "target")}
        texts["triplet"] = resources.read_triplet_prompts()
        videos = cholect50_videos(data_root, _test_videos(protocol, options), options)
        return zero_shot_triplets(model, tokenizer, videos, texts, name=name, max_length=max_length,
                                  absent=options.absent_ap, distributed=distributed, **common)
    if protocol.kind == "retrieval":
        from .retrieval import retrieval
        from .retrieval_data import retrieval_segments

        levels = retrieval_segments(data_root, options.retrieval_split, frames=options.retrieval_frames,
                                    size=options.crop, narration=options.narration,
                                    max_segments=options.retrieval_max_segments, seed=options.seed)
        return {"name": name, "metrics": retrieval(model, tokenizer, levels, max_length=max_length, device=device)}
    from .linear_probe import FeatureCache, linear_probe, video_features

    train_numbers = (parse_video_list(options.train_videos) if options.train_videos else
                     resources.split_videos(protocol.dataset, "train") + resources.split_videos(protocol.dataset, "val"))
    cache = FeatureCache(options.cache_dir, options.model_key) if options.cache_dir else None
    key = f"{protocol.dataset}-{options.resize}-{options.crop}"
    was_training = model.training
    model.eval()
    try:
        train = video_features(model, phase_videos(data_root, protocol.dataset, train_numbers, options),
                               cache=cache, dataset_key=key, **common)
        test = video_features(model, phase_videos(data_root, protocol.dataset, _test_videos(protocol, options), options),
                              cache=cache, dataset_key=key, **common)
    finally:
        model.train(was_training)
    probe = ProbeOptions(options.probe_lr, options.probe_weight_decay, options.probe_momentum, options.probe_epochs,
                         options.probe_batch_size, options.seed)
    return {"name": name, "metrics": linear_probe(train, test, len(resources.phase_names(protocol.dataset)),
                                                  percent=protocol.probe_percent, options=probe)}


def metrics_of(result) -> dict:
    return result["metrics"] if isinstance(result, dict) else result.metrics


def scalars(results: Mapping[str, object]) -> dict[str, float]:
    """Flat `protocol/metric` numbers (for TensorBoard and logs)."""
    out = {}
    for name, result in results.items():
        metrics = metrics_of(result)
        kind = get_protocol(name).kind
        if kind == "triplet":
            out.update({f"{name}/mAP_{c}": metrics[c]["mAP"] for c in ("i", "v", "t", "iv", "it", "ivt")})
        elif kind == "retrieval":
            out.update({f"{name}/{level}_{direction}_{key}": value for level, directions in metrics.items()
                        for direction, values in directions.items() for key, value in values.items()
                        if key != "queries"})
        else:
            out.update({f"{name}/accuracy": metrics["accuracy"], f"{name}/f1": metrics["f1"]})
    return out


def summary_table(results: Mapping[str, object], title: str = "Evaluation") -> str:
    phase_rows, triplet_rows, retrieval_rows = [], [], []
    for name, result in results.items():
        metrics = metrics_of(result)
        kind = get_protocol(name).kind
        if kind == "triplet":
            triplet_rows.append([name, *(metrics[c]["mAP"] for c in ("i", "v", "t", "iv", "it", "ivt"))])
        elif kind == "retrieval":
            for level, directions in metrics.items():
                for direction, v in directions.items():
                    retrieval_rows.append([f"{name} {level} {direction.replace('_to_', '->')}", v["R@1"], v["R@5"],
                                           v["R@10"], v["median_rank"], v["queries"]])
        else:
            phase_rows.append([name, metrics["accuracy"], metrics["f1"], len(metrics["videos"]), metrics["frames"]])
    parts = []
    if phase_rows:
        parts.append(reports.format_table(["protocol", "accuracy %", "F1 %", "videos", "frames"], phase_rows, title))
    if triplet_rows:
        parts.append(reports.format_table(["protocol", "mAP i", "v", "t", "iv", "it", "ivt"], triplet_rows,
                                          None if parts else title))
    if retrieval_rows:
        parts.append(reports.format_table(["protocol", "R@1", "R@5", "R@10", "median rank", "queries"],
                                          retrieval_rows, None if parts else title))
    return "\n".join(parts)


def write_report(results: Mapping[str, object], out_dir: str | os.PathLike, extra: Mapping | None = None) -> dict:
    """results.json plus, per phase protocol, `<name>_ribbons.png` and `<name>_confusion.png`.
    Returns {what: path}."""
    out_dir = Path(out_dir)
    written = {}
    for name, result in results.items():
        if hasattr(result, "per_video") and hasattr(result, "class_names"):
            written[f"{name} ribbons"] = reports.plot_phase_ribbons(
                out_dir / f"{name}_ribbons.png", result.per_video, result.class_names,
                title=f"{result.name}: ground truth vs prediction")
            written[f"{name} confusion"] = reports.plot_confusion(
                out_dir / f"{name}_confusion.png", result.metrics["confusion"], result.class_names,
                title=f"{result.name}: confusion (row-normalised)")
    payload = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(extra or {}),
               "results": {name: metrics_of(r) for name, r in results.items()}}
    written["json"] = reports.write_json(out_dir / "results.json", payload)
    return {k: str(v) for k, v in written.items()}


def run_protocols(model, tokenizer, eval_cfg, device="cpu", *, data_root: str | None = None,
                  distributed: bool = False) -> dict[str, float]:
    """The trainer's hook: every protocol of `eval_cfg` (`protocols`, `data_root`, `options`) on
    `model`, returning flat `protocol/metric` numbers. The model's train/eval mode is restored.
    Call it on one process, or on every rank with `distributed=True` to share the videos."""
    root = data_root or getattr(eval_cfg, "data_root", "")
    if not root:
        raise ValueError("evaluation needs a data root (eval.data_root)")
    results = {}
    for name in eval_cfg.protocols:
        options = EvalOptions.from_mapping(dict(getattr(eval_cfg, "options", {}) or {}), name)
        results[name] = evaluate(name, model, tokenizer, root, options, device, distributed)
    return scalars(results)
