"""A training run's config: the sections of every component it drives, composed, and the checks
that span sections (`surgvlp-fast train CONFIG [--check]`, the `config.yaml` of a run).

The sections' dataclasses and their own checks live with their components (models/config.py,
pretrain/config.py, evaluation/config.py); those of the loop itself are here.
"""
import os
import typing
from dataclasses import dataclass, field
from typing import Literal

from surgvlp_fast import config
from surgvlp_fast.config import ConfigError, Scalar, closest_key, option_value
from surgvlp_fast.evaluation.config import EvalConfig
from surgvlp_fast.losses.objectives import ObjectiveOptions, build_objective
from surgvlp_fast.models.config import ModelConfig
from surgvlp_fast.pretrain.config import DataConfig
from surgvlp_fast.pretrain.levels import LEVELS


@dataclass
class ScheduleConfig:
    mode: Literal["epoch", "batch"] = "epoch"   # epoch: reference §5.6; batch: the paper's alternation
    every: dict[str, int] = field(default_factory=lambda: {"keystep": 3, "video": 5})     # epoch mode
    batches: dict[str, int] = field(default_factory=lambda: {"clip": 25, "keystep": 15, "video": 115})  # batch mode

    def check(self, where: str) -> None:
        for key, value in {**self.every, **self.batches}.items():
            if key not in LEVELS:
                raise ConfigError(f"unknown level {key!r} in {where}{closest_key(key, LEVELS)}")
            if value < 1:
                raise ConfigError(f"{where}: level {key} needs a value ≥ 1, got {value}")


@dataclass
class OptimConfig:
    name: Literal["adam", "adamw"] = "adam"
    lr: float = 8e-5
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0
    total_steps: Literal["real", "reference"] = "real"   # reference: Σ len(loaders)·epochs (never anneals, §8.13)
    max_grad_norm: float = 0.0         # 0 = no clipping (reference)

    def check(self, where: str) -> None:
        if len(self.betas) != 2:
            raise ConfigError(f"{where}.betas must have 2 values, got {self.betas}")


@dataclass
class TrainConfig:
    epochs: int = 150
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"   # auto: bf16 on a GPU that has it, else fp32
    grad_scaler: bool = True           # with fp16 (reference: no scaler, §8.12)
    accumulate: int = 1                # micro-batches per optimizer step
    nonfinite: Literal["stop", "skip"] = "stop"
    compile: bool = False              # torch.compile (inductor) the model and the objective; off until measured on a GPU
    log_every: int = 1
    max_steps: int = 0                 # stop after this many optimizer steps (0 = all); the schedule is unchanged
    progress_bar: bool = True
    tensorboard: bool = True

    def check(self, where: str) -> None:
        if self.accumulate < 1 or self.epochs < 1 or self.log_every < 1:
            raise ConfigError(f"{where}.accumulate, {where}.epochs and {where}.log_every must be ≥ 1")


@dataclass
class CheckpointConfig:
    every_epochs: int = 1
    every_steps: int = 0               # 0 = only at epoch ends
    keep_last: int = 10

    def check(self, where: str) -> None:
        if self.keep_last < 1:
            raise ConfigError(f"{where}.keep_last must be ≥ 1")


@dataclass
class ValidationConfig:
    every_epochs: int = 1              # 0 = never
    model_mode: Literal["eval", "train"] = "eval"   # reference: train (BatchNorm drifts, §8.11)


@dataclass
class DistributedConfig:
    backend: Literal["auto", "nccl", "gloo"] = "auto"   # auto: nccl on GPUs, gloo on CPU
    timeout_minutes: int = 30


@dataclass
class Config:
    method: Literal["surgvlp", "hecvl", "peskavlp"] = "peskavlp"
    seed: int = 1
    device: str = "auto"               # auto: cuda:<local rank> when available, else cpu
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    objective: dict[str, Scalar] = field(default_factory=dict)   # options of losses.objectives.build_objective
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)

    def levels(self) -> list[str]:
        """The levels this config trains: those with a split."""
        return self.data.levels()

    def check(self, where: str) -> None:
        """Across sections: the method's levels, batches that can learn, the method's objective."""
        if not self.levels():
            raise ConfigError("no level to train: set data.clip.split (and keystep / video for hecvl, peskavlp)")
        if self.method == "surgvlp" and self.levels() != ["clip"]:
            raise ConfigError(f"method surgvlp trains the clip level only, but data has splits for {self.levels()}")
        processes = world_size()
        for lv in self.levels():   # every level's objective is contrastive (InfoNCE over the global batch)
            if getattr(self.data, lv).batch_size * processes == 1:
                raise ConfigError(f"data.{lv}.batch_size 1 on 1 process: the {lv} level's contrastive terms are "
                                  f"always 0 (a batch of one has no negative); raise data.{lv}.batch_size")
        self.objective = checked_objective(self.method, self.objective)


def checked_objective(method: str, options: dict) -> dict:
    """The `objective` options by name and type, and as a whole by building the method's objective."""
    hints = typing.get_type_hints(ObjectiveOptions)
    checked = {}
    for key, value in options.items():
        where = f"objective.{key}"
        if key not in hints:
            raise ConfigError(f"unknown key {where!r}{closest_key(key, hints)}")
        hint = hints[key]
        if hint is tuple:    # dtw_levels: "keystep,video" in a config
            if not isinstance(value, str):
                raise ConfigError(f"{where}: expected a comma-separated string of levels, got {value!r}")
            checked[key] = value
        else:
            checked[key] = option_value(value, hint, where)
    try:
        build_objective(method, **checked)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"objective: {e}") from None
    return checked


def world_size() -> int:
    """Processes of the run as far as the launcher tells (torchrun WORLD_SIZE, SLURM_NTASKS), else 1."""
    for name in ("WORLD_SIZE", "SLURM_NTASKS"):
        try:
            return max(1, int(os.environ[name]))
        except (KeyError, ValueError):
            continue
    return 1


def load_config(path: str | None, overrides=()) -> Config:
    """A training config from a YAML file (None: the defaults) and `key.sub=value` overrides, every
    section checked."""
    return config.read_config(Config, path, overrides)
