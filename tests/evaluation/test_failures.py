"""A failing protocol costs only itself: the trainer's hook runs the others and reports it, the eval
command's results.json holds every finished protocol at each moment and lists the failures."""
import json
from types import SimpleNamespace

import pytest
import torch

from surgvlp_fast.evaluation import runner
from surgvlp_fast.evaluation.options import EvalOptions


class Result:
    table_header = ["protocol", "accuracy"]

    def __init__(self, accuracy):
        self.metrics = {"accuracy": accuracy}

    def scalars(self, name):
        return {f"{name}/accuracy": self.metrics["accuracy"]}

    def table_rows(self, name):
        return [[name, self.metrics["accuracy"]]]

    def write_pictures(self, out_dir, name):
        return {}


@pytest.fixture
def one_protocol_fails(monkeypatch, tmp_path):
    seen_reports = []

    def evaluate(name, model, tokenizer, data_root, options=None, device="cpu", distributed=False):
        if name == "autolaparo":
            raise FileNotFoundError(f"{data_root}/downstream_datasets/autolaparo/labels/15.csv")
        if (tmp_path / "out" / "results.json").exists():   # what a kill at this moment would leave
            seen_reports.append(json.loads((tmp_path / "out" / "results.json").read_text()))
        return Result(0.5 if name == "cholec80" else 0.25)

    monkeypatch.setattr(runner, "evaluate", evaluate)
    return seen_reports


def test_the_hook_runs_every_protocol_and_reports_the_failing_one(one_protocol_fails):
    model = torch.nn.Linear(1, 1).train()
    cfg = SimpleNamespace(protocols=["cholec80", "autolaparo", "cholect50"], options={}, data_root="data")
    with pytest.raises(runner.EvaluationFailed) as caught:
        runner.run_protocols(model, None, cfg)
    assert caught.value.metrics == {"cholec80/accuracy": 0.5, "cholect50/accuracy": 0.25}
    assert list(caught.value.failures) == ["autolaparo"]
    assert "FileNotFoundError: data/downstream_datasets/autolaparo/labels/15.csv" in caught.value.failures["autolaparo"]
    assert model.training


def test_eval_writes_each_protocol_as_it_finishes(one_protocol_fails, tmp_path):
    out = tmp_path / "out"
    lines = []
    results, failures = runner.evaluate_and_report(["cholec80", "autolaparo", "cholect50"], None, None, "data",
                                                   lambda name: EvalOptions(), "cpu", out, echo=lines.append)
    assert list(results) == ["cholec80", "cholect50"] and list(failures) == ["autolaparo"]
    # when cholect50 started, cholec80's results and autolaparo's failure were already on disk
    assert one_protocol_fails[-1]["results"] == {"cholec80": {"accuracy": 0.5}}
    assert "autolaparo" in one_protocol_fails[-1]["failures"]
    final = json.loads((out / "results.json").read_text())
    assert set(final["results"]) == {"cholec80", "cholect50"} and list(final["failures"]) == ["autolaparo"]
    assert any(line.startswith("[eval] autolaparo FAILED: FileNotFoundError") for line in lines)


def test_eval_command_exits_non_zero_and_keeps_the_other_results(tiny_world, tmp_path, capsys):
    from surgvlp_fast.cli import main
    from surgvlp_fast.config import save_config
    from surgvlp_fast.training.config import load_config
    from surgvlp_fast.models import build_model, load_tokenizer

    root = str(tiny_world[0])
    cfg = load_config("configs/demo.yaml", [f"data.root={root}", f"model.text.tokenizer={root}/tokenizer"])
    model = build_model(cfg.model, load_tokenizer(f"{root}/tokenizer"))
    run = tmp_path / "run"
    run.mkdir()
    save_config(cfg, str(run / "config.yaml"))
    torch.save({"model": model.state_dict()}, run / "last.pt")
    out = tmp_path / "out"
    code = main(["eval", "--checkpoint", str(run / "last.pt"), "--data-root", root, "--protocol", "autolaparo",
                 "--protocol", "cholec80", "--out", str(out), "--device", "cpu", "-o", "resize=64x64", "-o", "crop=64",
                 "-o", "cholec80.videos=49", "-o", "autolaparo.videos=99"])
    assert code == 1
    assert "surgvlp-fast eval: autolaparo failed:" in capsys.readouterr().err
    report = json.loads((out / "results.json").read_text())
    assert list(report["results"]) == ["cholec80"] and list(report["failures"]) == ["autolaparo"]
