"""Typed configs: dataclasses, YAML files, validation and dotted command-line overrides.

A config file is plain data (YAML). `load_config(path, overrides)` reads it, applies overrides such
as `optim.lr=1e-4`, and builds the dataclasses below, checking every key and type: an unknown key
is an error that names the closest valid key. `save_config` writes the resolved config back.
"""
import dataclasses
import difflib
import inspect
import json
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Literal

import yaml

LEVELS = ("clip", "keystep", "video")
Scalar = bool | int | float | str


class ConfigError(ValueError):
    """A config key or value is invalid; the message names the key."""


# ----------------------------------------------------------------------------------------- model
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


@dataclass
class ModelConfig:
    embed_dim: int = 768
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    init_checkpoint: str = ""          # released .pth or our checkpoint to start from (reference: pretrain_cnn_path)
    gradient_checkpointing: bool = False


# ------------------------------------------------------------------------------------------ data
@dataclass
class LevelDataConfig:
    split: str = ""                    # split CSV relative to data.root; "" = level not trained
    batch_size: int = 2                # per process
    num_frames: int = 4
    size: int = 336
    max_length: int = 77
    options: dict[str, Scalar] = field(default_factory=dict)   # passed to the level dataset as keyword arguments


@dataclass
class ClipDataConfig(LevelDataConfig):
    views: int = 3                     # 3 = original + 2 augmented (released), 1 = original only (paper SurgVLP)
    augment: dict[str, Scalar | list[float]] = field(default_factory=dict)  # pretrain.augment.ClipAugmentation
    #                                    keyword arguments, e.g. {consistent: true, p_flip: 0.0, scale: [0.2, 1.0]}


@dataclass
class DataConfig:
    root: str = "data"
    video_root: str = ""               # "" = root/videos; or the training cache (video.prepare)
    video_backend: str = "auto"        # surgvlp_fast.video.open_video backend
    num_workers: int = 2
    clip: ClipDataConfig = field(default_factory=lambda: ClipDataConfig(split="splits/train_narration.csv"))
    keystep: LevelDataConfig = field(default_factory=lambda: LevelDataConfig(num_frames=16, max_length=200))
    video: LevelDataConfig = field(default_factory=lambda: LevelDataConfig(num_frames=64, max_length=200))
    val: LevelDataConfig = field(default_factory=lambda: LevelDataConfig(split="splits/val.csv", batch_size=40))
    corrupt_retries: int = 10          # a corrupt sample is replaced by another one, at most this many times


# ------------------------------------------------------------------------------------- training
@dataclass
class ScheduleConfig:
    mode: Literal["epoch", "batch"] = "epoch"   # epoch: reference §5.6; batch: the paper's alternation
    every: dict[str, int] = field(default_factory=lambda: {"keystep": 3, "video": 5})     # epoch mode
    batches: dict[str, int] = field(default_factory=lambda: {"clip": 25, "keystep": 15, "video": 115})  # batch mode


@dataclass
class OptimConfig:
    name: Literal["adam", "adamw"] = "adam"
    lr: float = 8e-5
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0
    total_steps: Literal["real", "reference"] = "real"   # reference: Σ len(loaders)·epochs (never anneals, §8.13)
    max_grad_norm: float = 0.0         # 0 = no clipping (reference)


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


@dataclass
class CheckpointConfig:
    every_epochs: int = 1
    every_steps: int = 0               # 0 = only at epoch ends
    keep_last: int = 10


@dataclass
class ValidationConfig:
    every_epochs: int = 1              # 0 = never
    model_mode: Literal["eval", "train"] = "eval"   # reference: train (BatchNorm drifts, §8.11)


@dataclass
class EvalConfig:
    every_epochs: int = 5              # 0 = never (reference eval_epoch 5)
    protocols: list[str] = field(default_factory=list)
    data_root: str = ""                # "" = data.root
    options: dict[str, Scalar] = field(default_factory=dict)
    on_error: Literal["continue", "stop"] = "continue"   # a failing protocol is logged and counted; stop: re-raised


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
        return [lv for lv in LEVELS if getattr(self.data, lv).split]


# --------------------------------------------------------------------------- building and checks
def _closest(key: str, valid) -> str:
    match = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.0)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _convert(value, hint, where: str):
    """Check `value` against the type `hint` and return it (ints and numeric strings become floats)."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{where}: {value!r} is not one of {list(typing.get_args(hint))}")
        return value
    if origin is types.UnionType:
        if type(value) in typing.get_args(hint):   # Scalar: keep the YAML value's own type ('49' stays '49')
            return value
        for option in typing.get_args(hint):
            try:
                return _convert(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not a {hint}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        _, item = typing.get_args(hint)
        return {str(k): _convert(v, item, f"{where}.{k}") for k, v in value.items()}
    if hint is float and not isinstance(value, bool):
        if isinstance(value, int):
            return float(value)
        if isinstance(value, str):   # YAML reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    if isinstance(value, bool) and hint is not bool or not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def from_dict(cls, data, where: str = "", base=None):
    """Build dataclass `cls` from a mapping over `base` (default: cls()), checking every key and value."""
    base = cls() if base is None else base
    if data is None:
        return base
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    updates = {}
    for key, value in data.items():
        name = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise ConfigError(f"unknown key {name!r}{_closest(str(key), names)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            updates[key] = from_dict(hint, value, name, getattr(base, key))
        elif typing.get_origin(hint) is dict and isinstance(value, dict):
            updates[key] = {**getattr(base, key), **_convert(value, hint, name)}
        else:
            updates[key] = _convert(value, hint, name)
    return dataclasses.replace(base, **updates)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:   # unhashable key: let SafeLoader report it
                break
            if duplicate:
                raise ConfigError(f"{key_node.start_mark.name}, line {key_node.start_mark.line + 1}: "
                                  f"duplicate key {key!r}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str):
    """Read a YAML file; a duplicate key is a ConfigError naming the file and line."""
    with open(path) as f:
        loader = _UniqueKeyLoader(f)
        loader.name = str(path)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def apply_override(data: dict, override: str) -> None:
    """`a.b.c=value` (value parsed as YAML: 1e-4, true, [1, 2], text) into the nested dict `data`."""
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like key.sub=value")
    dotted, raw = override.split("=", 1)
    keys = dotted.strip().split(".")
    value = yaml.safe_load(raw) if raw.strip() else ""
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {key} is not a section")
    node[keys[-1]] = value


def _option_value(value, hint, where: str):
    """`value` checked against an option's type: ints become floats for float options and
    strings for str options; a string is never parsed into a number."""
    if hint is str and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if hint is float and isinstance(value, str):
        raise ConfigError(f"{where}: expected float, got {value!r}")
    return _convert(value, hint, where)


def _level_parameters(level: str) -> dict:
    """Keyword parameters a level's dataset accepts from data.<level>.options: name -> type of the default."""
    from surgvlp_fast.pretrain import datasets

    cls = {"clip": datasets.ClipLevelDataset, "keystep": datasets.KeystepLevelDataset,
           "video": datasets.VideoLevelDataset, "val": datasets.ClipLevelDataset}[level]
    params = {}
    for klass in (cls, *cls.__mro__[1:]):
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.name in params:
                continue
            params[p.name] = p.default
        if klass is datasets.LectureDataset:
            break
    set_by_config = {"self", "root", "split", "size", "num_frames", "seed", "video_root", "video_backend"}
    return {name: type(default) for name, default in params.items()
            if name not in set_by_config and isinstance(default, (bool, int, float, str))}


def _check_level_options(cfg: Config) -> None:
    for lv in (*LEVELS, "val"):
        level = getattr(cfg.data, lv)
        if not level.options:
            continue
        params = _level_parameters(lv)
        checked = {}
        for key, value in level.options.items():
            where = f"data.{lv}.options.{key}"
            if key not in params:
                raise ConfigError(f"unknown {lv} dataset option {where!r}{_closest(key, params)}")
            checked[key] = _option_value(value, params[key], where)
        level.options = checked


def _check_augment(cfg: Config) -> None:
    from surgvlp_fast.pretrain.augment import ClipAugmentation

    params = {p.name: p.default for p in inspect.signature(ClipAugmentation).parameters.values() if p.name != "size"}
    checked = {}
    for key, value in cfg.data.clip.augment.items():
        where = f"data.clip.augment.{key}"
        if key not in params:
            raise ConfigError(f"unknown augmentation option {where!r}{_closest(key, params)}")
        default = params[key]
        if isinstance(default, tuple):
            if not isinstance(value, list) or len(value) != len(default):
                raise ConfigError(f"{where}: expected a list of {len(default)} numbers, got {value!r}")
            checked[key] = [_convert(v, float, f"{where}[{i}]") for i, v in enumerate(value)]
        else:
            checked[key] = _option_value(value, type(default), where)
    cfg.data.clip.augment = checked


def _check_objective(cfg: Config) -> None:
    from surgvlp_fast.losses.objectives import ObjectiveOptions, build_objective

    hints = typing.get_type_hints(ObjectiveOptions)
    checked = {}
    for key, value in cfg.objective.items():
        where = f"objective.{key}"
        if key not in hints:
            raise ConfigError(f"unknown key {where!r}{_closest(key, hints)}")
        hint = hints[key]
        if hint is tuple:    # dtw_levels: "keystep,video" in a config
            if not isinstance(value, str):
                raise ConfigError(f"{where}: expected a comma-separated string of levels, got {value!r}")
            checked[key] = value
        else:
            checked[key] = _option_value(value, hint, where)
    try:
        build_objective(cfg.method, **checked)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"objective: {e}") from None
    cfg.objective = checked


def _check_eval(cfg: Config) -> None:
    from surgvlp_fast.evaluation.runner import EvalOptions, get_protocol

    for name in cfg.eval.protocols:
        try:
            get_protocol(name)
        except ValueError as e:
            raise ConfigError(f"eval.protocols: {e}") from None
    flat = {}
    for key, value in cfg.eval.options.items():   # {cholec80: {videos: ...}} (an override) -> cholec80.videos
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    hints = typing.get_type_hints(EvalOptions)
    checked = {}
    for key, value in flat.items():
        protocol, dot, name = key.rpartition(".")
        where = f"eval.options.{key}"
        if dot:
            try:
                get_protocol(protocol)
            except ValueError as e:
                raise ConfigError(f"{where}: {e}") from None
            if protocol not in cfg.eval.protocols:
                raise ConfigError(f"{where}: protocol {protocol} is not evaluated (eval.protocols: "
                                  f"{cfg.eval.protocols}); add it there or drop the option")
        if name not in hints:
            raise ConfigError(f"unknown key {where!r}{_closest(name, hints)}")
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a scalar, got {value!r}")
        checked[key] = _option_value(value, hints[name], where)
    try:
        for protocol in cfg.eval.protocols:
            EvalOptions.from_mapping(checked, protocol).resize_hw()
        EvalOptions.from_mapping(checked)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"eval.options: {e}") from None
    cfg.eval.options = checked


def world_size() -> int:
    """Processes of the run as far as the launcher tells (torchrun WORLD_SIZE, SLURM_NTASKS), else 1."""
    for name in ("WORLD_SIZE", "SLURM_NTASKS"):
        try:
            return max(1, int(os.environ[name]))
        except (KeyError, ValueError):
            continue
    return 1


def _check_learnable(cfg: Config) -> None:
    processes = world_size()
    for lv in cfg.levels():   # every level's objective is contrastive (InfoNCE over the global batch)
        if getattr(cfg.data, lv).batch_size * processes == 1:
            raise ConfigError(f"data.{lv}.batch_size 1 on 1 process: the {lv} level's contrastive terms are "
                              f"always 0 (a batch of one has no negative); raise data.{lv}.batch_size")
    text = cfg.model.text
    config_json = os.path.join(text.path, "config.json") if text.path else ""
    if config_json and os.path.isfile(config_json) and not text.projection:
        try:
            with open(config_json) as f:
                hidden = json.load(f).get("hidden_size")
        except (OSError, ValueError) as e:
            raise ConfigError(f"model.text.path: cannot read {config_json}: {e}") from None
        if hidden is not None and hidden != cfg.model.embed_dim:
            raise ConfigError(f"model.embed_dim {cfg.model.embed_dim} != hidden_size {hidden} of model.text.path "
                              f"({config_json}): set model.embed_dim: {hidden} or model.text.projection: true")


def validate(cfg: Config) -> Config:
    """Checks across keys that the types cannot express."""
    if not cfg.levels():
        raise ConfigError("no level to train: set data.clip.split (and keystep / video for hecvl, peskavlp)")
    if cfg.method == "surgvlp" and cfg.levels() != ["clip"]:
        raise ConfigError(f"method surgvlp trains the clip level only, but data has splits for {cfg.levels()}")
    for lv in (*LEVELS, "val"):
        level = getattr(cfg.data, lv)
        if level.batch_size < 1 or level.num_frames < 1 or level.size < 1 or level.max_length < 2:
            raise ConfigError(f"data.{lv}: batch_size, num_frames, size must be ≥ 1 and max_length ≥ 2")
    if cfg.data.clip.views not in (1, 3):
        raise ConfigError(f"data.clip.views must be 1 (original) or 3 (original + 2 augmented), got {cfg.data.clip.views}")
    for key, value in {**cfg.schedule.every, **cfg.schedule.batches}.items():
        if key not in LEVELS:
            raise ConfigError(f"unknown level {key!r} in schedule{_closest(key, LEVELS)}")
        if value < 1:
            raise ConfigError(f"schedule: level {key} needs a value ≥ 1, got {value}")
    if len(cfg.optim.betas) != 2:
        raise ConfigError(f"optim.betas must have 2 values, got {cfg.optim.betas}")
    if cfg.train.accumulate < 1 or cfg.train.epochs < 1 or cfg.train.log_every < 1:
        raise ConfigError("train.accumulate, train.epochs and train.log_every must be ≥ 1")
    if cfg.checkpoint.keep_last < 1:
        raise ConfigError("checkpoint.keep_last must be ≥ 1")
    text = cfg.model.text
    if not text.projection and not text.path and text.hidden_size != cfg.model.embed_dim:
        raise ConfigError(f"model.text.hidden_size {text.hidden_size} != model.embed_dim {cfg.model.embed_dim}: "
                          "set model.text.projection: true or make them equal")
    if not text.path and not 1 <= text.last_n_layers <= text.num_layers + 1:
        raise ConfigError(f"model.text.last_n_layers={text.last_n_layers} but model.text.num_layers={text.num_layers}")
    if not (text.path or text.tokenizer):
        raise ConfigError("model.text.path or model.text.tokenizer must name a local folder")
    _check_learnable(cfg)
    _check_level_options(cfg)
    _check_augment(cfg)
    _check_objective(cfg)
    _check_eval(cfg)
    return cfg


def load_config(path: str | None, overrides=()) -> Config:
    """Read a YAML config (or the defaults when `path` is None), apply overrides, validate."""
    data = {}
    if path is not None:
        try:
            data = load_yaml(path) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
    for override in overrides:
        apply_override(data, override)
    options = (data.get("eval") or {}).get("options") if isinstance(data.get("eval"), dict) else None
    if isinstance(options, dict):   # eval.options.cholec80.videos=49-55 nests: flatten to "cholec80.videos"
        flat = {}
        for key, value in options.items():
            if isinstance(value, dict):
                flat.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        data["eval"]["options"] = flat
    try:
        return validate(from_dict(Config, data))
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None


def save_config(cfg: Config, path: str) -> None:
    with open(path, "w") as f:
        yaml.safe_dump(to_dict(cfg), f, sort_keys=False)


def tokenizer_path(cfg: Config) -> str:
    return cfg.model.text.tokenizer or cfg.model.text.path
