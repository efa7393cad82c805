"""Linear probing and few-shot (reference.md §6.3) on frozen, cached frame features.

The visual encoder is frozen; per-frame features are extracted once (no augmentation) and kept
in a cache on disk; a linear layer is trained with SGD (lr 1e-3, weight decay 5e-4, 40 epochs)
on the training videos, or on k % of them (few-shot: whole videos, not frames), and scored on
the test videos with the phase metrics (per-video accuracy and macro-F1, averaged).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .downstream import DownstreamVideo
from .features import encode_frames
from .metrics import phase_metrics
from .zero_shot import PhaseScores


class FeatureCache:
    """Per-video features in `root/<model_key>/<dataset_key>/<video_id>.pt`, written atomically."""

    def __init__(self, root: str | os.PathLike, model_key: str):
        self.root = Path(root) / model_key

    def get(self, dataset_key: str, video_id: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        path = self.root / dataset_key / f"{video_id}.pt"
        if path.exists():
            return torch.load(path, map_location="cpu", weights_only=True)
        features = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(features, tmp)
        os.replace(tmp, path)
        return features


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A short key naming the model's weights (every parameter and buffer): the cache's default model key,
    so features of other weights are never returned."""
    digest = hashlib.sha1()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def video_features(model, videos: Sequence[DownstreamVideo], *, cache: FeatureCache | None = None, dataset_key: str = "",
                   **encode_kwargs) -> dict[str, tuple[torch.Tensor, np.ndarray]]:
    """{video_id: (raw features (N, d), labels (N,))}, read from the cache when there."""
    out = {}
    for video in videos:
        def compute(video=video):
            return encode_frames(model, video.frames, normalize=False, **encode_kwargs)

        features = cache.get(dataset_key, video.video_id, compute) if cache else compute()
        out[video.video_id] = (features, np.asarray(video.labels, dtype=np.int64))
    return out


def select_videos(video_ids: Sequence[str], percent: float, seed: int = 0) -> list[str]:
    """k % of the training videos (at least one), drawn with a fixed seed, in their given order."""
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    count = max(1, int(round(len(video_ids) * percent / 100.0)))
    chosen = set(np.random.default_rng(seed).choice(len(video_ids), size=count, replace=False).tolist())
    return [v for i, v in enumerate(video_ids) if i in chosen]


@dataclass
class ProbeResult(PhaseScores):
    """A linear probe's test phase metrics (`linear_probe`); scored and tabled like zero-shot phases."""

    name: str
    metrics: dict


@dataclass
class ProbeOptions:
    lr: float = 1e-3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    epochs: int = 40
    batch_size: int = 128
    seed: int = 0


def train_linear(features: torch.Tensor, labels: np.ndarray, num_classes: int, options: ProbeOptions) -> torch.nn.Linear:
    generator = torch.Generator().manual_seed(options.seed)
    layer = torch.nn.Linear(features.shape[1], num_classes)
    with torch.no_grad():  # seeded initialisation
        bound = 1.0 / features.shape[1] ** 0.5
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.zero_()
    optimizer = torch.optim.SGD(layer.parameters(), lr=options.lr, momentum=options.momentum,
                                weight_decay=options.weight_decay)
    targets = torch.as_tensor(labels, dtype=torch.long)
    for _ in range(options.epochs):
        order = torch.randperm(features.shape[0], generator=generator)
        for batch in order.split(options.batch_size):
            loss = torch.nn.functional.cross_entropy(layer(features[batch]), targets[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return layer


def linear_probe(train: dict[str, tuple[torch.Tensor, np.ndarray]], test: dict[str, tuple[torch.Tensor, np.ndarray]],
                 num_classes: int, *, percent: float = 100.0, options: ProbeOptions = ProbeOptions(),
                 on_trained: Callable[[torch.nn.Linear, list[str]], None] | None = None) -> dict:
    """Train on `percent` % of the training videos, return the test phase metrics (in %).
    `on_trained(layer, training videos)` is called with the trained head (to save it)."""
    chosen = select_videos(list(train), percent, options.seed)
    features = torch.cat([train[v][0] for v in chosen]).float()
    labels = np.concatenate([train[v][1] for v in chosen])
    layer = train_linear(features, labels, num_classes, options)
    if on_trained is not None:
        on_trained(layer, chosen)
    with torch.no_grad():
        per_video = {v: (lab, layer(f.float()).argmax(1).numpy()) for v, (f, lab) in test.items()}
    metrics = phase_metrics(per_video, num_classes)
    metrics.update(percent=percent, train_videos=chosen, train_frames=int(labels.size))
    return metrics


HEAD_FORMAT = 1


class ProbeMismatchError(ValueError):
    """A probe head used with a model whose features it was not trained on."""


@dataclass
class ProbeHead:
    """A trained probe head as saved by `-o <protocol>.probe_out=PATH`: the linear layer (weight (C, d), bias (C,)),
    the class names, the feature settings it was trained on (raw, unnormalised features of frames
    resized to `resize` and centre-cropped to `crop`) and the weights fingerprint of its model."""

    weight: torch.Tensor
    bias: torch.Tensor
    class_names: list[str]
    settings: dict            # resize ("HxW"), crop, features ("raw")
    fingerprint: str          # weights_fingerprint of the model whose features trained it
    protocol: str = ""
    train_videos: list[str] = dataclasses.field(default_factory=list)


def save_probe_head(path: str | os.PathLike, head: ProbeHead) -> None:
    """Write the head whole (a temporary file, then renamed)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; probe_out names the head's file")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save({"format": HEAD_FORMAT, **dataclasses.asdict(head)}, tmp)
    os.replace(tmp, path)


def read_probe_head(path: str | os.PathLike) -> ProbeHead:
    """A head saved by save_probe_head; ValueError naming the file when it is none."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a folder, expected a probe head (eval -o <protocol>.probe_out=FILE)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception:
        raise ValueError(f"{path}: not a probe head (eval -o <protocol>.probe_out=FILE writes one)") from None
    fields = {f.name for f in dataclasses.fields(ProbeHead)}
    if not isinstance(saved, dict) or saved.get("format") != HEAD_FORMAT or not fields <= set(saved):
        raise ValueError(f"{path}: not a probe head of format {HEAD_FORMAT} (eval -o <protocol>.probe_out=FILE writes one)")
    head = ProbeHead(**{k: saved[k] for k in fields})
    if head.weight.ndim != 2 or head.bias.shape != (head.weight.shape[0],) or len(head.class_names) != len(head.bias):
        raise ValueError(f"{path}: the head's weight {tuple(head.weight.shape)}, bias {tuple(head.bias.shape)} and "
                         f"{len(head.class_names)} class names do not agree")
    return head


def check_probe_head(head: ProbeHead, model, where: str = "the probe head") -> None:
    """ProbeMismatchError unless `head` was trained on this model's features."""
    fingerprint = weights_fingerprint(model)
    if head.fingerprint != fingerprint:
        raise ProbeMismatchError(f"{where}: trained on the features of another model (weights {head.fingerprint}, "
                                 f"this checkpoint's {fingerprint}); train a probe on this one: eval -o <protocol>.probe_out=FILE")
