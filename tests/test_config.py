"""Typed configs: the three method files, errors that name the key, dotted overrides, freezing."""
import os

import pytest
import yaml

from surgvlp_fast.config import ConfigError, save_config, to_dict
from surgvlp_fast.training.config import Config, load_config

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
TOKENIZER = ["model.text.tokenizer=/tok"]


@pytest.mark.parametrize("method,levels", [("surgvlp", ["clip"]), ("hecvl", ["clip", "keystep", "video"]),
                                           ("peskavlp", ["clip", "keystep", "video"])])
def test_method_configs_load(method, levels):
    cfg = load_config(os.path.join(CONFIGS, f"{method}.yaml"))
    assert cfg.method == method and cfg.levels() == levels
    assert cfg.optim.lr == 8e-5 and cfg.train.epochs == 150 and cfg.data.clip.views == 3
    assert cfg.model.vision.weights == "imagenet" and cfg.validation.model_mode == "eval"


def test_hecvl_and_peskavlp_differ_only_in_method():
    a = to_dict(load_config(os.path.join(CONFIGS, "hecvl.yaml")))
    b = to_dict(load_config(os.path.join(CONFIGS, "peskavlp.yaml")))
    assert {k for k in a if a[k] != b[k]} == {"method"}


@pytest.mark.parametrize("override,message", [
    ("optim.lrr=1", "unknown key 'optim.lrr' (did you mean 'lr'?)"),
    ("modle.embed_dim=3", "unknown key 'modle' (did you mean 'model'?)"),
    ("data.clip.batchsize=3", "unknown key 'data.clip.batchsize' (did you mean 'batch_size'?)"),
    ("optim.lr=fast", "optim.lr: expected float, got 'fast'"),
    ("train.epochs=1.5", "train.epochs: expected int, got 1.5"),
    ("train.epochs=true", "train.epochs: expected int, got True"),
    ("train.precision=fp8", "train.precision: 'fp8' is not one of ['auto', 'fp32', 'bf16', 'fp16']"),
    ("schedule.every.keystp=3", "unknown level 'keystp' in schedule (did you mean 'keystep'?)"),
    ("data.clip.views=2", "data.clip.views must be 1"),
    ("optim.betas=[0.9]", "optim.betas must have 2 values"),
    ("train.log_every=0", "train.log_every must be ≥ 1"),
    ("model.vision.channels_last=maybe", "model.vision.channels_last: expected bool, got 'maybe'"),
    ("optim", "must look like key.sub=value"),
])
def test_errors_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [*TOKENIZER, override])
    assert message in str(err.value)


def test_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("method: surgvlp\nmodel:\n  vison: {backbone: resnet18}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'model.vison' \(did you mean 'vision'\?\)"):
        load_config(str(path))
    path.write_text("method: surgvlp\nmodel: {text: {tokenizer: t}}\ndata: {keystep: {split: a.csv}}\n")
    with pytest.raises(ConfigError, match="surgvlp trains the clip level only"):
        load_config(str(path))


def test_overrides_types_and_merging():
    cfg = load_config(os.path.join(CONFIGS, "peskavlp.yaml"),
                      ["optim.lr=1e-4", "optim.name=adamw", "schedule.mode=batch", "schedule.batches.video=7",
                       "data.clip.options.fps=3", "objective.dtw_margin=0.1", "train.precision=bf16"])
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.lr, float) and cfg.optim.name == "adamw"
    assert cfg.schedule.batches == {"clip": 25, "keystep": 15, "video": 7}
    assert cfg.data.clip.options == {"fps": 3.0} and cfg.objective == {"dtw_margin": 0.1}
    assert cfg.data.keystep.num_frames == 16 and cfg.data.video.num_frames == 64


def test_defaults_are_per_level():
    cfg = Config()
    assert (cfg.data.clip.num_frames, cfg.data.keystep.num_frames, cfg.data.video.num_frames) == (4, 16, 64)
    assert cfg.data.keystep.max_length == 200


def test_frozen_config_round_trips(tmp_path):
    cfg = load_config(os.path.join(CONFIGS, "hecvl.yaml"), ["optim.lr=3e-5", "train.epochs=2"])
    save_config(cfg, tmp_path / "config.yaml")
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["optim"]["lr"] == 3e-5
    assert load_config(str(tmp_path / "config.yaml")) == cfg


def test_duplicate_key_names_file_and_line(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("method: surgvlp\ntrain:\n  epochs: 2\n  epochs: 3\n")
    with pytest.raises(ConfigError, match=r"dup.yaml, line 4: duplicate key 'epochs'"):
        load_config(str(path))


@pytest.mark.parametrize("override,message", [
    ("objective.dtw_beta=0.1", "unknown key 'objective.dtw_beta' (did you mean 'dtw_"),
    ("objective.dtw_normalize=rows", "objective: option dtw_normalize='rows' is not one of"),
    ("objective.temperature=hot", "objective.temperature: expected float, got 'hot'"),
    ("data.clip.options.fsp=3", "data.clip.options.fsp' (did you mean 'fps'?)"),
    ("data.clip.options.random_flip=3", "data.clip.options.random_flip: expected bool, got 3"),
    ("data.clip.options.size=3", "did you mean"),          # set by data.clip.size itself
    ("eval.protocols=[cholec8]", "eval.protocols: unknown protocol 'cholec8'"),
    ("eval.options.vidoes=49", "unknown key 'eval.options.vidoes' (did you mean 'videos'?)"),
    ("eval.options.cholec8.videos=49", "eval.options.cholec8.videos: unknown protocol 'cholec8'"),
    ("eval.options.crop=big", "eval.options.crop: expected int, got 'big'"),
    ("data.clip.augment.consistant=true", "data.clip.augment.consistant' (did you mean 'consistent'?)"),
    ("data.clip.augment.consistent=3", "data.clip.augment.consistent: expected bool, got 3"),
    ("data.clip.augment.scale=[0.5]", "data.clip.augment.scale: expected a list of 2 numbers"),
    ("data.keystep.views=1", "unknown key 'data.keystep.views'"),    # views belong to the clip level alone
    ("data.tokenizer=tok", "unknown key 'data.tokenizer'"),         # the tokenizer is model.text.tokenizer
])
def test_options_are_checked_at_load(override, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, [*TOKENIZER, override])
    assert message in str(err.value)


def test_option_values_keep_their_type():
    cfg = load_config(None, [*TOKENIZER, "eval.protocols=[cholec80]", "eval.options.videos='49'",
                             "eval.options.cholec80.videos=49-55", "data.keystep.options.keystep_text=text",
                             "data.clip.options.center_crop=true"])
    assert cfg.eval.options == {"videos": "49", "cholec80.videos": "49-55"}
    assert cfg.data.clip.options == {"center_crop": True}
    from surgvlp_fast.evaluation.options import EvalOptions
    assert EvalOptions.from_mapping(cfg.eval.options, "cholec80").videos == "49-55"
    assert EvalOptions.from_mapping(cfg.eval.options, "autolaparo").videos == "49"


def test_augmentation_options_reach_the_training_views(tiny_world):
    root = tiny_world[0]
    from surgvlp_fast.pretrain.build import build_training_data

    cfg = load_config(os.path.join(CONFIGS, "demo.yaml"),
                      [f"data.root={root}", f"model.text.tokenizer={root}/tokenizer",
                       "data.clip.augment.consistent=true", "data.clip.augment.scale=[0.5, 1]",
                       "data.clip.augment.p_flip=1"])   # an int where a float is declared
    assert cfg.data.clip.augment == {"consistent": True, "scale": [0.5, 1.0], "p_flip": 1.0}
    augmentation = build_training_data(cfg.data, tokenizer=None, seed=cfg.seed).make_views.keywords["augmentation"]
    assert augmentation.consistent is True and list(augmentation.scale) == [0.5, 1.0] and augmentation.p_flip == 1.0


def test_batch_of_one_cannot_learn(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("SLURM_NTASKS", raising=False)
    with pytest.raises(ConfigError, match="clip level's contrastive terms are always 0.*raise data.clip.batch_size"):
        load_config(None, [*TOKENIZER, "data.clip.batch_size=1"])
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert load_config(None, [*TOKENIZER, "data.clip.batch_size=1"]).data.clip.batch_size == 1


def test_embed_dim_must_match_the_text_model(tmp_path):
    (tmp_path / "config.json").write_text('{"hidden_size": 256}')
    with pytest.raises(ConfigError, match="model.embed_dim 768 != hidden_size 256 of model.text.path"):
        load_config(None, [f"model.text.path={tmp_path}"])
    assert load_config(None, [f"model.text.path={tmp_path}", "model.embed_dim=256"]).model.embed_dim == 256
    assert load_config(None, [f"model.text.path={tmp_path}", "model.text.projection=true"])


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(CONFIGS) if n.endswith(".yaml")))
def test_shipped_configs_load(name):
    assert load_config(os.path.join(CONFIGS, name), TOKENIZER)
