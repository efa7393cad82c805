"""Linear probing and few-shot (reference.md §6.3) on frozen, cached frame features.

The visual encoder is frozen; per-frame features are extracted once (no augmentation) and kept
in a cache on disk; a linear layer is trained with SGD (lr 1e-3, weight decay 5e-4, 40 epochs)
on the training videos, or on k % of them (few-shot: whole videos, not frames), and scored on
the test videos with the phase metrics (per-video accuracy and macro-F1, averaged).
"""
from __future__ import annotations

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
                 num_classes: int, *, percent: float = 100.0, options: ProbeOptions = ProbeOptions()) -> dict:
    """Train on `percent` % of the training videos, return the test phase metrics (in %)."""
    chosen = select_videos(list(train), percent, options.seed)
    features = torch.cat([train[v][0] for v in chosen]).float()
    labels = np.concatenate([train[v][1] for v in chosen])
    layer = train_linear(features, labels, num_classes, options)
    with torch.no_grad():
        per_video = {v: (lab, layer(f.float()).argmax(1).numpy()) for v, (f, lab) in test.items()}
    metrics = phase_metrics(per_video, num_classes)
    metrics.update(percent=percent, train_videos=chosen, train_frames=int(labels.size))
    return metrics
