"""Protocols end to end on a tiny synthetic world: `evaluate`, the trainer's hook and the `eval`
command with a real tiny DualEncoder checkpoint."""
import copy
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from surgvlp_fast.evaluation import EvalOptions, evaluate, run_protocols
from surgvlp_fast.evaluation.options import parse_video_list

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "demo.yaml")


@pytest.fixture(scope="module")
def tiny(world):
    from surgvlp_fast.training.config import load_config
    from surgvlp_fast.models import build_model, load_tokenizer

    cfg = load_config(CONFIG, [f"data.root={world}", f"model.text.tokenizer={world}/tokenizer"])
    tokenizer = load_tokenizer(f"{world}/tokenizer")
    torch.manual_seed(0)
    return cfg, build_model(cfg.model, tokenizer), tokenizer


SMALL = dict(resize="64x64", crop=64, batch_size=16, max_length=32)


def test_zero_shot_on_the_world(world, tiny):
    _, model, tokenizer = tiny
    result = evaluate("cholec80", model, tokenizer, world, EvalOptions(videos="49-50", **SMALL))
    assert list(result.per_video) == ["video49", "video50"]
    assert result.metrics["frames"] == 25 + 28  # every CSV row of the two test videos
    assert len(result.class_names) == 7 and 0 <= result.metrics["accuracy"] <= 100
    triplets = evaluate("cholect50", model, tokenizer, world, EvalOptions(videos="6", resize="64x64", crop=64))
    assert set(triplets.metrics) >= {"i", "v", "t", "iv", "it", "ivt"}
    with pytest.raises(Exception, match="video51"):
        evaluate("cholec80", model, tokenizer, world, EvalOptions(videos="49-51", **SMALL))


def test_probe_and_retrieval_on_the_world(world, tiny, tmp_path):
    _, model, tokenizer = tiny
    options = EvalOptions(videos="49-50", train_videos="1", cache_dir=str(tmp_path), probe_epochs=2, **SMALL)
    probe = evaluate("cholec80-probe", model, tokenizer, world, options)
    assert probe.metrics["train_videos"] == ["video01"] and probe.metrics["train_frames"] == 26
    assert len(list(tmp_path.rglob("*.pt"))) == 3
    other = copy.deepcopy(model)   # other weights: the default cache key (the weights' hash) changes
    with torch.no_grad():
        next(other.parameters()).add_(1.0)
    evaluate("cholec80-probe", other, tokenizer, world, options)
    assert len(list(tmp_path.rglob("*.pt"))) == 6
    retrieval = evaluate("retrieval", model, tokenizer, world, EvalOptions(crop=64, retrieval_frames=3, max_length=32))
    assert set(retrieval.metrics) == {"clip", "phase", "video"}
    assert retrieval.metrics["video"]["text_to_video"]["queries"] == 1  # one hold-out lecture, one abstract


def test_training_hook_returns_flat_numbers_and_restores_mode(world, tiny):
    _, model, tokenizer = tiny
    model.train()
    eval_cfg = SimpleNamespace(protocols=["cholec80", "autolaparo"], data_root="",
                               options={"cholec80.videos": "49", "autolaparo.videos": "15", **SMALL})
    metrics = run_protocols(model, tokenizer, eval_cfg, "cpu", data_root=world)
    assert set(metrics) == {"cholec80/accuracy", "cholec80/f1", "autolaparo/accuracy", "autolaparo/f1"}
    assert all(isinstance(v, float) for v in metrics.values())
    assert model.training


def test_eval_command_on_a_checkpoint(world, tiny, tmp_path, capsys):
    from surgvlp_fast.cli import main
    from surgvlp_fast.config import save_config

    cfg, model, _ = tiny
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    save_config(cfg, str(run / "config.yaml"))
    torch.save({"model": model.state_dict()}, run / "checkpoints" / "last.pt")
    out = tmp_path / "out"
    code = main(["eval", "--checkpoint", str(run / "checkpoints" / "last.pt"), "--data-root", world,
                 "--protocol", "cholec80", "--protocol", "cholect50", "--out", str(out), "--device", "cpu",
                 "-o", "resize=64x64", "-o", "crop=64", "-o", "cholec80.videos=49-50", "-o", "cholect50.videos=6"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "cholec80" in printed and "accuracy %" in printed and "ivt" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["results"]["cholec80"]["frames"] == 53
    assert (out / "cholec80_ribbons.png").stat().st_size > 10_000
    assert (out / "cholec80_confusion.png").stat().st_size > 10_000
    # the same weights through the loader give the same numbers as the model in memory
    direct = evaluate("cholec80", model.eval(), tiny[2], world, EvalOptions(videos="49-50", resize="64x64", crop=64))
    assert results["results"]["cholec80"]["accuracy"] == direct.metrics["accuracy"]   # same weights, same kernels


def test_options_and_video_lists():
    assert parse_video_list("49-52,60") == [49, 50, 51, 52, 60]
    with pytest.raises(ValueError, match="bad video"):
        parse_video_list("55-49")
    options = EvalOptions.from_mapping({"batch_size": 8, "cholec80.videos": "49-55", "autolaparo.videos": "15"},
                                       "cholec80")
    assert options.batch_size == 8 and options.videos == "49-55"
    assert options.resize_hw() == (360, 640)
    with pytest.raises(ValueError, match="unknown evaluation option 'bach_size'"):
        EvalOptions.from_mapping({"bach_size": 8})
    assert np.isfinite(EvalOptions().probe_lr)


def test_eval_command_checks_every_option_before_loading(tmp_path, capsys):
    from surgvlp_fast.cli import main

    missing = str(tmp_path / "never_read.pt")   # the options are refused before the checkpoint is opened
    base = ["eval", "--checkpoint", missing, "--config", "configs/demo.yaml", "--data-root", str(tmp_path),
            "--out", str(tmp_path / "out"), "--protocol", "cholec80", "--protocol", "autolaparo",
            f"model.text.tokenizer={tmp_path}"]
    for option, message in [("autolaparo.bach_size=8", "'eval.options.autolaparo.bach_size' (did you mean 'batch_size'?)"),
                            ("cholect50.videos=6", "protocol cholect50 is not evaluated"),
                            ("batch_size=many", "batch_size"),
                            ("videos", "must look like key=value")]:
        assert main([*base, "-o", option]) == 1
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (option, err)


def test_eval_options_keep_their_declared_type():
    from types import SimpleNamespace

    from surgvlp_fast.training.config import load_config
    from surgvlp_fast.evaluation.cli import eval_overrides

    args = SimpleNamespace(protocol=["cholec80"], option=["videos=49", "cholec80.batch_size=8"])
    cfg = load_config("configs/demo.yaml", ["model.text.tokenizer=/tok", *eval_overrides(args)])
    assert cfg.eval.protocols == ["cholec80"]
    assert cfg.eval.options == {"videos": "49", "cholec80.batch_size": 8}
