"""Typed configs: the three method files, errors that name the key, dotted overrides, freezing."""
import os

import pytest
import yaml

from surgvlp_fast.config import Config, ConfigError, load_config, save_config, to_dict

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
                       "data.clip.options.fps=3", "objective.dtw_beta=0.1", "train.precision=bf16"])
    assert cfg.optim.lr == 1e-4 and isinstance(cfg.optim.lr, float) and cfg.optim.name == "adamw"
    assert cfg.schedule.batches == {"clip": 25, "keystep": 15, "video": 7}
    assert cfg.data.clip.options == {"fps": 3} and cfg.objective == {"dtw_beta": 0.1}
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
