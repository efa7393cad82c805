"""A linear-probe head as a video's classifier (`predict --probe`): the layer `eval`'s probe protocol
trained (evaluation/linear_probe.py saves and checks it) applied to the raw, unnormalised frame
features it was trained on, so a prediction equals the protocol's on the same frames."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ProbeClasses:
    """The head's class names (what a ClassSet offers the writers of a timeline)."""

    names: tuple[str, ...]
    source: str


class ProbeClassifier:
    """weight (C, d), bias (C,) and the C class names of a trained probe head."""

    normalized_features = False   # the head reads raw features (the protocol's normalize=False)

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, names, *, source: str = "probe head"):
        weight, bias = torch.as_tensor(weight).float(), torch.as_tensor(bias).float()
        if weight.ndim != 2 or bias.shape != (weight.shape[0],) or len(names) != weight.shape[0]:
            raise ValueError(f"{source}: weight {tuple(weight.shape)}, bias {tuple(bias.shape)} and {len(names)} "
                             f"class names do not agree")
        self.weight, self.bias = weight, bias
        self.classes = ProbeClasses(tuple(str(n) for n in names), source)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        if features.shape[1] != self.weight.shape[1]:
            raise ValueError(f"{self.classes.source}: the head reads {self.weight.shape[1]}-d features, the model "
                             f"gives {features.shape[1]}-d")
        return F.linear(features.float(), self.weight, self.bias)


def moving_average(features: torch.Tensor, window: int) -> torch.Tensor:
    """Centred moving average of (N, d) raw features over `window` frames (1 = none; the window shrinks at
    the ends), not re-normalised: the head reads the scale it was trained on."""
    if window <= 1:
        return features
    n = features.shape[0]
    csum = torch.cat([features.new_zeros(1, features.shape[1]), features.double().cumsum(0).to(features.dtype)])
    idx = torch.arange(n)
    lo = (idx - window // 2).clamp(min=0)
    hi = (idx + (window - 1) // 2 + 1).clamp(max=n)
    return (csum[hi] - csum[lo]) / (hi - lo).unsqueeze(1)
