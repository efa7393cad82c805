"""What the trainer gets from the pretraining pipeline: level datasets, collates and augmentation from a config."""
import functools
import os
from dataclasses import dataclass
from typing import Callable

from surgvlp_fast.config import Config


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


def build_training_data(cfg: Config, tokenizer) -> TrainingData:
    """Datasets of the configured levels (data.<level>.split), the clip-level validation set, the
    tokenising collates and the batched augmentation (surgvlp_fast.pretrain)."""
    from surgvlp_fast.pretrain.collate import TextCollator
    from surgvlp_fast.errors import CorruptVideoError
    from surgvlp_fast.pretrain.datasets import dataset_for_level, worker_init
    from surgvlp_fast.pretrain.augment import ClipAugmentation, make_views

    d = cfg.data
    common = {"seed": cfg.seed, "video_backend": d.video_backend}
    if d.video_root:
        common["video_root"] = d.video_root

    def dataset(level_name, level_cfg):
        return dataset_for_level(level_name, d.root, split=os.path.join(d.root, level_cfg.split),
                                 size=level_cfg.size, num_frames=level_cfg.num_frames, **common,
                                 **level_cfg.options)

    train = {lv: dataset(lv, getattr(d, lv)) for lv in cfg.levels()}
    val = dataset("clip", d.val) if d.val.split and cfg.validation.every_epochs else None
    collate = {lv: TextCollator(tokenizer, getattr(d, lv).max_length) for lv in (*cfg.levels(), "val")}
    views = functools.partial(make_views, augmentation=ClipAugmentation(**d.clip.augment))
    return TrainingData(train=train, collate=collate, make_views=views, val=val,
                        corrupt_errors=(CorruptVideoError,), tokenizer=tokenizer, worker_init=worker_init)
