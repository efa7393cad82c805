"""What the trainer gets from the pretraining pipeline: level datasets, collates and augmentation from
the `data` section of a config."""
import functools
import os
from dataclasses import dataclass
from typing import Callable

from surgvlp_fast.errors import CorruptVideoError

from .augment import ClipAugmentation, make_views
from .collate import TextCollator
from .config import DataConfig
from .datasets import dataset_for_level, worker_init


@dataclass
class TrainingData:
    """What the trainer needs from the data layer."""
    train: dict                              # level -> dataset (uint8 `video` + texts per sample)
    collate: dict                            # level (and "val") -> collate_fn
    make_views: Callable                     # (video uint8 (B,T,3,H,W), n_aug, generator) -> normalised views
    val: object = None                       # clip-level validation dataset
    corrupt_errors: tuple = ()               # exceptions meaning "this sample is corrupt: skip it"
    tokenizer: object = None
    worker_init: Callable | None = None      # DataLoader worker_init_fn


def build_training_data(data: DataConfig, tokenizer, *, seed: int, validation: bool = True) -> TrainingData:
    """Datasets of the levels with a split (data.<level>.split), the clip-level validation set
    (when `validation` and data.val.split), the tokenising collates and the batched augmentation;
    `seed` seeds the datasets' draws."""
    common = {"seed": seed, "video_backend": data.video_backend, "decode_threads": data.decode_threads}
    if data.video_root:
        common["video_root"] = data.video_root

    def dataset(level_name, level_cfg):
        return dataset_for_level(level_name, data.root, split=os.path.join(data.root, level_cfg.split),
                                 size=level_cfg.size, num_frames=level_cfg.num_frames, **common,
                                 **level_cfg.options)

    levels = data.levels()
    train = {lv: dataset(lv, getattr(data, lv)) for lv in levels}
    val = dataset("clip", data.val) if data.val.split and validation else None
    collate = {lv: TextCollator(tokenizer, getattr(data, lv).max_length) for lv in (*levels, "val")}
    views = functools.partial(make_views, augmentation=ClipAugmentation(**data.clip.augment))
    return TrainingData(train=train, collate=collate, make_views=views, val=val,
                        corrupt_errors=(CorruptVideoError,), tokenizer=tokenizer, worker_init=worker_init)
