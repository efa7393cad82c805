"""The `data` section of a training config: the data folder and each level's batches (read by build.py).

Each level's `options` are keyword arguments of its dataset and `clip.augment` those of
`augment.ClipAugmentation`; both are checked against those signatures.
"""
import inspect
from dataclasses import dataclass, field

from surgvlp_fast.config import ConfigError, Scalar, closest_key, convert, option_value

from . import datasets
from .augment import ClipAugmentation
from .levels import LEVELS


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
    decode_threads: int = 1            # threads decoding a batch's clips together, in each DataLoader worker
    #                                    (video.decode_clips); 1 = one clip at a time. See docs/training.md
    clip: ClipDataConfig = field(default_factory=lambda: ClipDataConfig(split="splits/train_narration.csv"))
    keystep: LevelDataConfig = field(default_factory=lambda: LevelDataConfig(num_frames=16, max_length=200))
    video: LevelDataConfig = field(default_factory=lambda: LevelDataConfig(num_frames=64, max_length=200))
    val: LevelDataConfig = field(default_factory=lambda: LevelDataConfig(split="splits/val.csv", batch_size=40))
    corrupt_retries: int = 10          # a corrupt sample is replaced by another one, at most this many times

    def levels(self) -> list[str]:
        """The levels to train: those with a split."""
        return [lv for lv in LEVELS if getattr(self, lv).split]

    def check(self, where: str) -> None:
        """Sizes, views, and every level's dataset options and augmentation options by name and type."""
        for lv in (*LEVELS, "val"):
            level = getattr(self, lv)
            if level.batch_size < 1 or level.num_frames < 1 or level.size < 1 or level.max_length < 2:
                raise ConfigError(f"{where}.{lv}: batch_size, num_frames, size must be ≥ 1 and max_length ≥ 2")
        if isinstance(self.decode_threads, bool) or not isinstance(self.decode_threads, int) \
                or self.decode_threads < 1:
            raise ConfigError(f"{where}.decode_threads must be an integer ≥ 1, got {self.decode_threads!r}")
        if self.clip.views not in (1, 3):
            raise ConfigError(f"{where}.clip.views must be 1 (original) or 3 (original + 2 augmented), "
                              f"got {self.clip.views}")
        for lv in (*LEVELS, "val"):
            self._check_level_options(lv, f"{where}.{lv}.options")
        self._check_augment(f"{where}.clip.augment")

    def _check_level_options(self, lv: str, where: str) -> None:
        level = getattr(self, lv)
        if not level.options:
            return
        params = _level_parameters(lv)
        checked = {}
        for key, value in level.options.items():
            if key not in params:
                raise ConfigError(f"unknown {lv} dataset option {where + '.' + key!r}{closest_key(key, params)}")
            checked[key] = option_value(value, params[key], f"{where}.{key}")
        level.options = checked

    def _check_augment(self, where: str) -> None:
        params = {p.name: p.default for p in inspect.signature(ClipAugmentation).parameters.values()
                  if p.name != "size"}
        checked = {}
        for key, value in self.clip.augment.items():
            at = f"{where}.{key}"
            if key not in params:
                raise ConfigError(f"unknown augmentation option {at!r}{closest_key(key, params)}")
            default = params[key]
            if isinstance(default, tuple):
                if not isinstance(value, list) or len(value) != len(default):
                    raise ConfigError(f"{at}: expected a list of {len(default)} numbers, got {value!r}")
                checked[key] = [convert(v, float, f"{at}[{i}]") for i, v in enumerate(value)]
            else:
                checked[key] = option_value(value, type(default), at)
        self.clip.augment = checked


def _level_parameters(level: str) -> dict:
    """Keyword parameters a level's dataset accepts from data.<level>.options: name -> type of the default."""
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
    set_by_config = {"self", "root", "split", "size", "num_frames", "seed", "video_root", "video_backend",
                     "decode_threads"}
    return {name: type(default) for name, default in params.items()
            if name not in set_by_config and isinstance(default, (bool, int, float, str))}
