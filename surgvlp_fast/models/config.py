"""The `model` section of a config: the dual encoder's vision and text towers (read by build_model)."""
import json
import os
from dataclasses import dataclass, field
from typing import Literal

from surgvlp_fast.config import ConfigError


@dataclass
class VisionConfig:
    backbone: Literal["resnet18", "resnet50", "tiny_cnn"] = "resnet50"
    weights: str = "imagenet"          # "imagenet" (torchvision's file on disk), "random" or a local path
    norm: Literal["batch", "group"] = "batch"   # tiny_cnn only; "group" has no batch statistics
    channels_last: bool = True         # NHWC convolutions (faster with oneDNN and cuDNN); same values


@dataclass
class TextConfig:
    path: str = ""                     # local Hugging Face model folder; "" = random init from the sizes below
    tokenizer: str = ""                # local tokenizer folder; "" = `path`
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_positions: int = 512
    dropout: float = 0.1
    last_n_layers: int = 4
    projection: bool = False           # reference: no projection (BERT space is the shared space)

    def tokenizer_path(self) -> str:
        return self.tokenizer or self.path


@dataclass
class ModelConfig:
    embed_dim: int = 768
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    init_checkpoint: str = ""          # released .pth or our checkpoint to start from (reference: pretrain_cnn_path)
    gradient_checkpointing: bool = False

    def check(self, where: str) -> None:
        """The text tower's width and depth agree with embed_dim, and it names a tokenizer."""
        text = self.text
        if not text.projection and not text.path and text.hidden_size != self.embed_dim:
            raise ConfigError(f"{where}.text.hidden_size {text.hidden_size} != {where}.embed_dim {self.embed_dim}: "
                              f"set {where}.text.projection: true or make them equal")
        if not text.path and not 1 <= text.last_n_layers <= text.num_layers + 1:
            raise ConfigError(f"{where}.text.last_n_layers={text.last_n_layers} but "
                              f"{where}.text.num_layers={text.num_layers}")
        if not (text.path or text.tokenizer):
            raise ConfigError(f"{where}.text.path or {where}.text.tokenizer must name a local folder")
        config_json = os.path.join(text.path, "config.json") if text.path else ""
        if config_json and os.path.isfile(config_json) and not text.projection:
            try:
                with open(config_json) as f:
                    hidden = json.load(f).get("hidden_size")
            except (OSError, ValueError) as e:
                raise ConfigError(f"{where}.text.path: cannot read {config_json}: {e}") from None
            if hidden is not None and hidden != self.embed_dim:
                raise ConfigError(f"{where}.embed_dim {self.embed_dim} != hidden_size {hidden} of {where}.text.path "
                                  f"({config_json}): set {where}.embed_dim: {hidden} or {where}.text.projection: true")
