"""The data layer as the trainer sees it: level datasets, collates and augmentation from a config."""
import os

from surgvlp_fast.config import Config
from surgvlp_fast.training.trainer import TrainingData


def build_training_data(cfg: Config, tokenizer) -> TrainingData:
    """Datasets of the configured levels (data.<level>.split), the clip-level validation set, the
    tokenising collates and the batched augmentation (surgvlp_fast.data)."""
    from surgvlp_fast.data.collate import TextCollator
    from surgvlp_fast.data.errors import CorruptVideoError
    from surgvlp_fast.data.level_datasets import dataset_for_level, worker_init
    from surgvlp_fast.data.transforms import make_views

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
    return TrainingData(train=train, collate=collate, make_views=make_views, val=val,
                        corrupt_errors=(CorruptVideoError,), tokenizer=tokenizer, worker_init=worker_init)
