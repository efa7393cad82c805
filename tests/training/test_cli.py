"""`surgvlp-fast train` runs SurgVLP, HecVL and PeskaVLP on the tiny synthetic world, in 1 and 2 processes."""
import json
import os
import subprocess
import sys

import pytest

from training_helpers import ROOT, run_env, tiny_world_overrides as tiny
from surgvlp_fast import cli
from surgvlp_fast.training.checkpoint import latest_checkpoint

METHODS = ("surgvlp", "hecvl", "peskavlp")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from surgvlp_fast.synthetic import make_world

    root = str(tmp_path_factory.mktemp("world") / "data")
    make_world(root, preset="tiny", seed=0)
    return root


def train_records(work_dir):
    lines = open(os.path.join(work_dir, "metrics.jsonl")).read().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "train"]


@pytest.mark.parametrize("method", METHODS)
def test_train_one_process(world, tmp_path, method, capsys):
    work_dir = str(tmp_path / method)
    code = cli.main(["train", os.path.join(ROOT, "configs", f"{method}.yaml"), "--work-dir", work_dir,
                     *tiny(world, method)])
    assert code == 0
    records = train_records(work_dir)
    levels = [r["level"] for r in records]
    # 5 lectures in batches of 2: 2 clip batches per pass (2 and 2 + 1: a last batch of one joins the one before)
    assert levels == (["clip"] * 2 if method == "surgvlp" else ["clip", "clip", "keystep", "video"]), levels
    assert all(r["loss"] == r["loss"] for r in records)        # finite
    assert latest_checkpoint(work_dir)
    assert os.path.exists(os.path.join(work_dir, "config.yaml"))
    if method == "peskavlp":
        evals = [json.loads(x) for x in open(os.path.join(work_dir, "metrics.jsonl")) if '"eval"' in x]
        assert evals and "cholec80/accuracy" in evals[0]
        assert os.path.exists(os.path.join(work_dir, "DONE"))


@pytest.mark.parametrize("method", METHODS)
def test_train_two_processes(world, tmp_path, method):
    work_dir = str(tmp_path / method)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
               "surgvlp_fast.cli", "train", os.path.join(ROOT, "configs", f"{method}.yaml"), "--work-dir", work_dir,
               *tiny(world, method), "train.max_steps=0", "eval.every_epochs=0"]
    result = subprocess.run(command, env=run_env(), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "on 2 process(es)" in open(os.path.join(work_dir, "log.txt")).read()
    levels = [r["level"] for r in train_records(work_dir)]
    assert levels == (["clip"] * 2 if method == "surgvlp" else ["clip", "clip", "keystep", "video"])
    assert os.path.exists(os.path.join(work_dir, "DONE"))


def test_config_error_exit_code(tmp_path, capsys):
    code = cli.main(["train", os.path.join(ROOT, "configs", "hecvl.yaml"), "--work-dir", str(tmp_path), "optim.lrr=1"])
    assert code == 1
    assert "unknown key 'optim.lrr' (did you mean 'lr'?)" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["surgvlp", "hecvl", "peskavlp", "demo"])
def test_check_prints_the_resolved_config(tmp_path, capsys, name):
    import yaml

    code = cli.main(["train", os.path.join(ROOT, "configs", f"{name}.yaml"), "--work-dir", str(tmp_path), "--check",
                     "model.text.tokenizer=/tmp/x", "optim.lr=1e-4"])
    out = capsys.readouterr()
    assert code == 0, out.err
    resolved = yaml.safe_load(out.out)
    assert resolved["optim"]["lr"] == 1e-4 and resolved["model"]["text"]["tokenizer"] == "/tmp/x"
    assert not os.listdir(tmp_path)


def test_check_reports_a_typo_in_one_line(tmp_path, capsys):
    code = cli.main(["train", os.path.join(ROOT, "configs", "hecvl.yaml"), "--check", "--work-dir", str(tmp_path),
                     "objective.dtw_margn=0.1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "did you mean 'dtw_margin'?" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    code = cli.main(["train", str(tmp_path / "missing.yaml"), "--work-dir", str(tmp_path), "--check"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("surgvlp-fast train: ") and "Traceback" not in err
