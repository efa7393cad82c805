"""`surgvlp-fast eval CHECKPOINT --suite field DATA_ROOT` end to end: the synthetic world's Cholec80 and
AutoLaparo exported to the interchange format, its CholecT50 in the usual folder, a GraSP set in its
native layout converted, a real tiny DualEncoder checkpoint; the absent sets listed, never failed."""
import csv
import json
import os

import pytest
import torch
from interchange_fixtures import write_grasp

from surgvlp_fast.cli import main
from surgvlp_fast.evaluation import EvalOptions, evaluate
from surgvlp_fast.evaluation.downstream import grasp
from surgvlp_fast.evaluation.downstream.registry import get_converter
from surgvlp_fast.evaluation.field_suite import COLUMNS
from surgvlp_fast.resources import resource_path

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "demo.yaml")
SMALL = ["-o", "resize=64x64", "-o", "crop=64", "-o", "batch_size=16", "-o", "max_length=32"]


@pytest.fixture(scope="module")
def field_world(world, tmp_path_factory):
    """(checkpoint path, data root, model, tokenizer): the world exported under <data>/field, plus GraSP."""
    from surgvlp_fast.config import save_config
    from surgvlp_fast.models import build_model, load_tokenizer
    from surgvlp_fast.training.config import load_config

    tmp = tmp_path_factory.mktemp("field")
    data = tmp / "data"
    get_converter("cholec80-csv").convert(world, str(data / "field"), videos=[49, 50])
    get_converter("autolaparo").convert(world, str(data / "field"), videos=[15])
    os.symlink(os.path.join(world, "downstream_datasets"), data / "downstream_datasets")   # CholecT50 as usual
    write_grasp(str(tmp / "grasp"), [("CASE001", 0, 1, 3), ("CASE001", 35, 2, 4), ("CASE002", 0, 0, 0)],
                [("CASE001", 35, [1, 3]), ("CASE002", 0, [2])])
    grasp.convert(str(tmp / "grasp"), str(data / "field"))
    cfg = load_config(CONFIG, [f"data.root={world}", f"model.text.tokenizer={world}/tokenizer"])
    tokenizer = load_tokenizer(f"{world}/tokenizer")
    torch.manual_seed(0)
    model = build_model(cfg.model, tokenizer)
    run = tmp / "run"
    (run / "checkpoints").mkdir(parents=True)
    save_config(cfg, str(run / "config.yaml"))
    torch.save({"model": model.state_dict()}, run / "checkpoints" / "last.pt")
    return str(run / "checkpoints" / "last.pt"), str(data), model, tokenizer


def test_field_suite_command_end_to_end(field_world, tmp_path, capsys):
    checkpoint, data, model, tokenizer = field_world
    out = tmp_path / "out"
    code = main(["eval", checkpoint, "--suite", "field", data, "--out", str(out), "--device", "cpu",
                 "--model-name", "tiny", "-o", "cholect50.videos=6", *SMALL])
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0, captured.err
    present = ["field-cholec80-phase", "field-autolaparo-phase", "field-grasp-phase", "field-grasp-step",
               "cholect50", "field-grasp-tool"]
    absent = [p for _, p in COLUMNS if p not in present]
    assert len(absent) == 4 and "field-sarrarp50-action" in absent
    assert f"absent (no data under {data}): {', '.join(absent)}" in printed
    report = json.loads((out / "results.json").read_text())
    assert sorted(report["results"]) == sorted(present) and report["absent"] == absent
    assert report["suite"] == "field" and report["failures"] == {}
    # the numbers are those of the protocol run directly on the same weights, frames and options
    options = EvalOptions(resize="64x64", crop=64, batch_size=16, max_length=32)
    direct = evaluate("field-cholec80-phase", model.eval(), tokenizer, data, options).metrics
    m = report["results"]["field-cholec80-phase"]
    assert m["frames"] == direct["frames"] == 25 + 28 and m["video_f1_all"] == pytest.approx(direct["video_f1_all"])
    # the ten-column table, Markdown (also printed) and CSV, each cell with its protocol, beside the published
    md = (out / "field_table.md").read_text()
    assert md in printed
    row = next(line for line in md.splitlines() if line.startswith("| tiny | this run |"))
    cells = [c.strip() for c in row.strip("|").split("|")][2:]
    assert cells[0] == f"{m['video_accuracy']:.2f} / {m['video_f1_all']:.2f}"
    assert cells[7] == f"{report['results']['cholect50']['ivt']['mAP']:.2f}"
    assert cells[9] == f"{report['results']['field-grasp-tool']['mAP']:.2f}" and cells[6] == "absent"
    assert "- field-cholec80-phase: zero-shot argmax of 100*cos" in md and "cell = video_accuracy / video_f1_all" in md
    assert "- cholect50: ivtmetrics video-wise mAP" in md
    assert "| PeskaVLP | SurgCLIP README" in md and "51.43 / 39.39" in md
    rows = list(csv.reader(open(out / "field_table.csv")))
    assert rows[1][:3] == ["tiny", "this run", cells[0]] and rows[2][2].startswith("field-cholec80-phase: ")
    published = list(csv.reader(open(out / "field_published.csv")))
    assert published[1][0] == "SurgVLP" and published[1][2] == "49.02 / 32.46"

def test_field_suite_pooled_cells_extra_protocols_and_a_failing_set(field_world, tmp_path, capsys):
    """--field-averaging pooled / --field-f1 f1 choose the cells; --protocol adds a protocol beside the
    columns; a set whose file is broken fails alone (named, exit 1) while the others are scored."""
    checkpoint, data, _, _ = field_world
    broken = tmp_path / "data"
    (broken / "field").mkdir(parents=True)
    for name in ("cholec80.json", "cholec80_frames.txt"):
        os.symlink(os.path.join(data, "field", name), broken / "field" / name)
    os.symlink(os.path.join(data, "downstream_datasets"), broken / "downstream_datasets")
    (broken / "field" / "sarrarp50.json").write_text("{not json")
    (broken / "field" / "sarrarp50_frames.txt").write_text("")
    (broken / "field" / "cholec80_tools.json").write_text("{}")          # a name no column reads: listed
    out = tmp_path / "out"
    code = main(["eval", "--checkpoint", checkpoint, "--data-root", str(broken), "--suite", "field",
                 "--protocol", "cholec80", "-o", "cholec80.videos=49-50", "-o", "cholect50.videos=6",
                 "-o", f"field-cholec80-phase.prompts={resource_path('cholec80_prompts.txt')}",
                 "--field-averaging", "pooled", "--field-f1", "f1",
                 "--out", str(out), "--device", "cpu", *SMALL])
    captured = capsys.readouterr()
    assert code == 1
    assert "field-sarrarp50-action failed: DataFormatError" in captured.err and "sarrarp50.json" in captured.err
    report = json.loads((out / "results.json").read_text())
    assert sorted(report["results"]) == ["cholec80", "cholect50", "field-cholec80-phase"]
    assert list(report["failures"]) == ["field-sarrarp50-action"]
    assert report["not_read"] == ["cholec80_tools.json"] and "[eval] not read (no column reads" in captured.out
    assert "field-cholec80-tool" in report["absent"]           # the phase CSVs' JSON defines no tools
    m = report["results"]["field-cholec80-phase"]
    assert m["video_accuracy"] == pytest.approx(report["results"]["cholec80"]["accuracy"])   # same frames, prompts
    md = (out / "field_table.md").read_text()
    assert f"| {m['pooled_accuracy']:.2f} / {m['pooled_f1']:.2f} |" in md and "| failed |" in md
    assert "cell = pooled_accuracy / pooled_f1" in md and "Failed: field-sarrarp50-action" in md


@pytest.mark.parametrize("argv, message", [
    (["eval", "ckpt.pt", "data"], "name what to run: --protocol NAME"),
    (["eval", "ckpt.pt", "--protocol", "cholec80"], "missing the data root"),
    (["eval", "ckpt.pt", "data", "extra", "--suite", "field"], "unexpected argument(s) extra"),
    (["eval", "ckpt.pt", "data", "--protocol", "cholec80", "--field-f1", "f1"], "--field-f1 applies to --suite field"),
    (["eval", "ckpt.pt", "no/such/data", "--suite", "field"], "data root no/such/data: no such folder"),
])
def test_eval_command_spelling_mistakes_are_one_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_field_option_of_a_column_is_checked_before_loading(tmp_path, capsys):
    missing = str(tmp_path / "never_read.pt")
    assert main(["eval", missing, str(tmp_path), "--suite", "field", "--config", "configs/demo.yaml",
                 f"model.text.tokenizer={tmp_path}", "-o", "field-grasp-step.bach_size=3"]) == 1
    assert "'eval.options.field-grasp-step.bach_size' (did you mean 'batch_size'?)" in capsys.readouterr().err
