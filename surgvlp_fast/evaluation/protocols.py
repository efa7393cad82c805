"""The frozen evaluation protocols (reference.md §6, decisions.md §6): one object per protocol.

A protocol names its dataset, its test videos, its class names and prompts, its text length and
its kind: zero-shot phase recognition, CholecT50 zero-shot triplets, text<->video retrieval, or a
linear probe. Each kind is a class whose `run(model, tokenizer, data_root, options, device,
distributed)` returns a result object that knows its `metrics`, its flat `scalars(name)`, its
`table_rows(name)` under its `table_header`, and `write_pictures(out_dir, name)` (see runner.py).
The protocols by name are registry.py's.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from .. import resources
from ..models.modes import eval_mode
from ..models.preprocess import official_frames, square_eval_transform
from ..zeroshot import prompt_groups
from .cholect50 import zero_shot_triplets
from .downstream.interchange import read_interchange
from .downstream.registry import read_video
from .field_zero_shot import protocol_tag, zero_shot_field
from .linear_probe import (FeatureCache, ProbeHead, ProbeOptions, ProbeResult, linear_probe, save_probe_head,
                           video_features, weights_fingerprint)
from .options import EvalOptions, parse_video_list
from .retrieval import RetrievalResult, retrieval
from .retrieval_data import retrieval_segments
from .zero_shot import zero_shot_phase


@dataclass(frozen=True)
class Protocol:
    """A protocol's data; subclasses implement `run` for their kind."""

    name: str
    dataset: str              # cholec80 | autolaparo | cholect50 (folder and resources); "" = pretraining data
    max_length: int           # prompt tokens (reference: 77 in the package's test script, 35 in training)
    probe_percent: float = 100.0
    notes: str = field(default="", compare=False)
    kind: ClassVar[str] = ""

    def run(self, model, tokenizer, data_root: str, options: EvalOptions, device="cpu",
            distributed: bool = False):
        raise NotImplementedError

    # helpers shared by the kinds
    def text_length(self, options: EvalOptions) -> int:
        return options.max_length or self.max_length

    def test_videos(self, options: EvalOptions) -> list[int]:
        return parse_video_list(options.videos) if options.videos else resources.split_videos(self.dataset, "test")


def amp_dtype(options: EvalOptions):
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[options.amp]


def encoding_options(options: EvalOptions, device) -> dict:
    """Keyword arguments of the frame-encoding runners."""
    return dict(batch_size=options.batch_size, device=device, num_workers=options.num_workers,
                amp_dtype=amp_dtype(options))


def phase_videos(data_root: str, dataset: str, numbers, options: EvalOptions) -> list:
    """Cholec80 / AutoLaparo videos (surgvlp_fast.evaluation.downstream) with the official evaluation
    preprocessing (PIL bilinear uint8 resize, centre crop, ToTensor, Normalize: models.preprocess)."""
    transform = functools.partial(official_frames, resize=options.resize_hw(), crop=options.crop)
    offset = None if options.frame_offset < 0 else options.frame_offset
    return [read_video(data_root, dataset, n, transform, frame_index_offset=offset) for n in numbers]


def cholect50_videos(data_root: str, numbers, options: EvalOptions) -> list:
    """CholecT50 videos; frames centre-cropped to a square and resized to `crop` (reference §2.7)."""
    transform = functools.partial(square_eval_transform, size=options.crop)
    return [read_video(data_root, "cholect50", n, transform) for n in numbers]


@dataclass(frozen=True)
class PhaseProtocol(Protocol):
    """Zero-shot phase recognition (zero_shot.py)."""

    kind: ClassVar[str] = "phase"

    def prompts(self, options: EvalOptions) -> list[list[str]]:
        """The class prompts (`options.prompts`: a file, one line per class, several prompts split by ' | ')."""
        lines = resources.read_lines(options.prompts) if options.prompts else resources.class_prompts(self.dataset)
        classes = len(resources.phase_names(self.dataset))
        if len(lines) != classes:
            raise ValueError(f"{options.prompts}: {len(lines)} prompt lines, expected one per class ({classes})")
        return prompt_groups(lines)

    def run(self, model, tokenizer, data_root, options, device="cpu", distributed=False):
        videos = phase_videos(data_root, self.dataset, self.test_videos(options), options)
        return zero_shot_phase(model, tokenizer, videos, self.prompts(options), resources.phase_names(self.dataset),
                               name=self.name, max_length=self.text_length(options),
                               smooth_window=options.smooth_window, distributed=distributed,
                               **encoding_options(options, device))


@dataclass(frozen=True)
class TripletProtocol(Protocol):
    """CholecT50 zero-shot triplets (cholect50.py)."""

    kind: ClassVar[str] = "triplet"

    def class_texts(self, options: EvalOptions) -> dict[str, list[str]]:
        """The four classifiers' texts; the triplet texts come from `options.prompts` when given
        (an `id:sentence` file as resources.read_triplet_prompts reads it)."""
        vocabulary = resources.cholect50_vocabulary()
        texts = {key: [n.replace("_", " ") for n in vocabulary[key]] for key in ("instrument", "verb", "target")}
        texts["triplet"] = resources.read_triplet_prompts(options.prompts or None)
        if len(texts["triplet"]) != len(vocabulary["triplet"]):
            raise ValueError(f"{options.prompts}: {len(texts['triplet'])} triplet prompts, "
                             f"expected {len(vocabulary['triplet'])}")
        return texts

    def run(self, model, tokenizer, data_root, options, device="cpu", distributed=False):
        videos = cholect50_videos(data_root, self.test_videos(options), options)
        return zero_shot_triplets(model, tokenizer, videos, self.class_texts(options), name=self.name,
                                  max_length=self.text_length(options), absent=options.absent_ap,
                                  distributed=distributed, **encoding_options(options, device))


@dataclass(frozen=True)
class RetrievalProtocol(Protocol):
    """Text<->video retrieval on hold-out lectures of the pretraining data (retrieval.py)."""

    kind: ClassVar[str] = "retrieval"

    def run(self, model, tokenizer, data_root, options, device="cpu", distributed=False):
        levels = retrieval_segments(data_root, options.retrieval_split, frames=options.retrieval_frames,
                                    size=options.crop, narration=options.narration,
                                    max_segments=options.retrieval_max_segments, seed=options.seed)
        return RetrievalResult(self.name, retrieval(model, tokenizer, levels, max_length=self.text_length(options),
                                                    device=device))


@dataclass(frozen=True)
class ProbeProtocol(Protocol):
    """Linear probe / few-shot on frozen frame features (linear_probe.py)."""

    kind: ClassVar[str] = "probe"

    def run(self, model, tokenizer, data_root, options, device="cpu", distributed=False):
        train_numbers = (parse_video_list(options.train_videos) if options.train_videos else
                         resources.split_videos(self.dataset, "train") + resources.split_videos(self.dataset, "val"))
        cache = (FeatureCache(options.cache_dir, options.model_key or weights_fingerprint(model))
                 if options.cache_dir else None)
        key = f"{self.dataset}-{options.resize}-{options.crop}"
        common = dict(cache=cache, dataset_key=key, **encoding_options(options, device))
        with eval_mode(model):
            train = video_features(model, phase_videos(data_root, self.dataset, train_numbers, options), **common)
            test = video_features(model, phase_videos(data_root, self.dataset, self.test_videos(options), options),
                                  **common)
        probe = ProbeOptions(options.probe_lr, options.probe_weight_decay, options.probe_momentum,
                             options.probe_epochs, options.probe_batch_size, options.seed)
        return ProbeResult(self.name, linear_probe(train, test, len(resources.phase_names(self.dataset)),
                                                   percent=self.probe_percent, options=probe,
                                                   on_trained=self.head_saver(model, options)))

    def head_saver(self, model, options: EvalOptions):
        """`options.probe_out`: a function saving the trained head with what `predict --probe` checks."""
        if not options.probe_out:
            return None

        def save(layer, train_videos):
            save_probe_head(options.probe_out, ProbeHead(
                layer.weight.detach().clone(), layer.bias.detach().clone(), list(resources.phase_names(self.dataset)),
                {"resize": options.resize, "crop": options.crop, "features": "raw"}, weights_fingerprint(model),
                self.name, list(train_videos)))

        return save



@dataclass(frozen=True)
class FieldProtocol(Protocol):
    """Zero-shot recognition on an interchange set (field_zero_shot.py, decisions.md §12): task `task` of
    `<data_root>/field/<dataset>.json` with its frame list `<dataset>_frames.txt` (what
    `convert-downstream` writes; SurgCLIP's converted phase/step/action files under these names too). Prompts:
    the JSON's `description`s, or `options.prompts` (one line per class, ' | ' between prompts)."""

    task: str = "phases"
    video_wise_ap: bool = False   # multi-label AP per video as ivtmetrics (triplets), else pooled over frames
    kind: ClassVar[str] = "field"

    def files(self, data_root: str) -> tuple[str, str]:
        folder = os.path.join(data_root, "field") if os.path.isdir(os.path.join(data_root, "field")) else data_root
        return os.path.join(folder, f"{self.dataset}.json"), os.path.join(folder, f"{self.dataset}_frames.txt")

    def run(self, model, tokenizer, data_root, options, device="cpu", distributed=False):
        for key, default in (("videos", ""), ("train_videos", ""), ("frame_offset", -1)):
            if getattr(options, key) != default:
                raise ValueError(f"{self.name}: option {key} does not apply to a field protocol (it scores every "
                                 f"frame of the converted file; convert a subset with convert-downstream)")
        transform = functools.partial(official_frames, resize=options.resize_hw(), crop=options.crop)
        json_path, frame_list = self.files(data_root)
        data = read_interchange(json_path, frame_list, self.task, transform=transform)
        if options.prompts:
            lines = resources.read_lines(options.prompts)
            if len(lines) != len(data.classes.names):
                raise ValueError(f"{options.prompts}: {len(lines)} prompt lines, expected one per class "
                                 f"({len(data.classes.names)})")
            prompts, source = prompt_groups(lines), f"file {options.prompts}"
        else:
            prompts, source = [[p] for p in data.classes.prompts], "the interchange JSON's descriptions"
        tag = protocol_tag(data.classes.kind, source, f"resize {options.resize} + centre crop {options.crop}",
                           options.smooth_window, self.video_wise_ap)
        cache = (FeatureCache(options.cache_dir, options.model_key or weights_fingerprint(model))
                 if options.cache_dir else None)
        return zero_shot_field(model, tokenizer, data, prompts, protocol=tag, name=self.name,
                               smooth_window=options.smooth_window, max_length=self.text_length(options),
                               distributed=distributed, cache=cache,
                               cache_key=f"field-{self.dataset}-{options.resize}-{options.crop}",   # per set: its tasks share frames
                               video_wise=self.video_wise_ap,
                               **encoding_options(options, device))
