"""Frame encoders (reference.md §3): a torchvision ResNet without `fc`, or a tiny CNN, then a Linear to d.

Parameter names follow the released checkpoints: `model.*` is the trunk, `global_embedder.*`
the Linear(features, d).
"""
import os

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

RESNETS = {"resnet18": 512, "resnet50": 2048}
BACKBONES = (*RESNETS, "tiny_cnn")


class TinyCNN(nn.Module):
    """4 blocks of 3×3 conv + norm + ReLU (channels 32/64/128/128, strides 2/2/2/1), global mean.

    `norm="group"` has no batch statistics, so its output does not depend on how a batch is split
    across processes (used by the distributed-equivalence test).
    """

    def __init__(self, norm: str = "batch"):
        super().__init__()
        layers, c_in = [], 3
        for c_out, stride in ((32, 2), (64, 2), (128, 2), (128, 1)):
            layers += [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), _norm(norm, c_out), nn.ReLU(inplace=True)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.out_features = c_in

    def forward(self, x):
        return self.features(x).mean(dim=(2, 3))


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(8, channels)
    raise ValueError(f"unknown norm {kind!r}: use 'batch' or 'group'")


def imagenet_weights_file(backbone: str) -> tuple[str, str]:
    """(local path, url): where torchvision keeps the ImageNet weights of `backbone`; never downloaded here."""
    import torchvision

    weights = {"resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
               "resnet50": torchvision.models.ResNet50_Weights.IMAGENET1K_V1}[backbone]
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url)), weights.url


class VisionEncoder(nn.Module):
    """(N, 3, H, W) normalised frames → (N, d).

    `channels_last`: the trunk's weights and activations in NHWC memory order, which oneDNN's CPU
    convolutions (and cuDNN's tensor-core ones) run without reordering; the values are the same up to
    float rounding (benchmarks/bench_train_step.py measures the step both ways)."""

    def __init__(self, backbone: str = "resnet50", embed_dim: int = 768, weights: str = "imagenet",
                 norm: str = "batch", gradient_checkpointing: bool = False, channels_last: bool = True):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown vision backbone {backbone!r}: choose one of {', '.join(BACKBONES)}")
        if backbone == "tiny_cnn":
            self.model = TinyCNN(norm)
            features = self.model.out_features
        else:
            import torchvision

            self.model = getattr(torchvision.models, backbone)(weights=None)
            self.model.fc = nn.Identity()
            features = RESNETS[backbone]
            load_trunk_weights(self.model, backbone, weights)
        self.global_embedder = nn.Linear(features, embed_dim)
        self.gradient_checkpointing = gradient_checkpointing
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        frames = frames.contiguous(memory_format=self.memory_format)
        if self.gradient_checkpointing and self.training:
            return self.global_embedder(self._checkpointed_trunk(frames))
        return self.global_embedder(self.model(frames))

    def _checkpointed_trunk(self, frames):
        """Recompute activations in the backward: per ResNet stage, or the whole tiny CNN."""
        m = self.model
        if isinstance(m, TinyCNN):
            return checkpoint(m, frames, use_reentrant=False)
        x = m.maxpool(m.relu(m.bn1(m.conv1(frames))))
        for layer in (m.layer1, m.layer2, m.layer3, m.layer4):
            x = checkpoint(layer, x, use_reentrant=False)
        return torch.flatten(m.avgpool(x), 1)


def load_trunk_weights(trunk: nn.Module, backbone: str, weights: str) -> None:
    """`weights`: "random", "imagenet" (torchvision's file, already on disk) or a path to a state dict."""
    if weights == "random":
        return
    if weights == "imagenet":
        path, url = imagenet_weights_file(backbone)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"ImageNet weights for {backbone} not found at {path}. Nothing is downloaded at run time: "
                f"fetch {url} into that folder, or set model.vision.weights to a local file or 'random'")
    else:
        path = weights
        if not os.path.exists(path):
            raise FileNotFoundError(f"model.vision.weights: no such file {path!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = trunk.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: not a torchvision {backbone} state dict "
                         f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
