"""`predict --probe HEAD`: the head `eval`'s linear-probe protocol saves (`-o cholec80-probe.probe_out=FILE`) classifies
a user's videos; on the protocol's own test videos it gives the protocol's predictions frame for frame."""
import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inference_helpers import CONFIG
from surgvlp_fast.cli import main
from surgvlp_fast.evaluation.linear_probe import read_probe_head, video_features
from surgvlp_fast.evaluation.options import EvalOptions
from surgvlp_fast.evaluation.protocols import phase_videos
from surgvlp_fast.resources import phase_names

# a fast-learning probe (lr 0.5) so the random tiny model's head predicts several phases
PROBE_OPTIONS = ["-o", "resize=64x64", "-o", "crop=64", "-o", "videos=49-50", "-o", "train_videos=1",
                 "-o", "probe_epochs=40", "-o", "probe_lr=0.5", "-o", "batch_size=16"]


@pytest.fixture(scope="module")
def probe(checkpoint, world, tmp_path_factory):
    """(head path, the protocol's metrics): `eval --protocol cholec80-probe -o cholec80-probe.probe_out=HEAD`."""
    folder = tmp_path_factory.mktemp("probe")
    head = folder / "heads" / "cholec80.pt"
    code = main(["eval", checkpoint[0], world, "--protocol", "cholec80-probe", "--out", str(folder / "eval"),
                 "--device", "cpu", *PROBE_OPTIONS, "-o", f"cholec80-probe.probe_out={head}"])
    assert code == 0
    metrics = json.loads((folder / "eval" / "results.json").read_text())["results"]["cholec80-probe"]
    return str(head), metrics


def predicted(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return rows, np.array([phase_names("cholec80").index(r["class"]) for r in rows])


def test_predict_with_the_probe_head_equals_the_probe_protocol(checkpoint, world, held_out, probe, tmp_path, capsys):
    path, model, _ = checkpoint
    head_path, metrics = probe
    head = read_probe_head(head_path)
    assert head.class_names == phase_names("cholec80") and head.settings["resize"] == "64x64"
    assert head.protocol == "cholec80-probe" and head.train_videos == ["video01"]
    out = tmp_path / "out"
    # no --resize / --crop: the head's feature settings are used
    assert main(["predict", path, *held_out.values(), "--probe", head_path, "--out", str(out), "--batch-size", "16",
                 "--no-progress"]) == 0, capsys.readouterr().err
    videos = phase_videos(world, "cholec80", [49, 50], EvalOptions(resize="64x64", crop=64))
    features = video_features(model, videos, batch_size=16)   # the protocol's raw features
    accuracies = []
    for number in held_out:
        vid = f"video{number:02d}"
        raw, labels = features[vid]
        rows, labels_predicted = predicted(out / f"{vid}.csv")
        expected = F.linear(raw, head.weight, head.bias).argmax(1).numpy()
        np.testing.assert_array_equal(labels_predicted, expected)   # frame for frame
        assert len(set(expected.tolist())) >= 3   # the head tells phases apart: no comparison of constants
        accuracy = 100 * float((labels_predicted == labels).mean())
        assert accuracy == pytest.approx(metrics["videos"][vid]["accuracy"], abs=1e-9)
        accuracies.append(accuracy)
        probabilities = np.array([[float(r[n]) for n in head.class_names] for r in rows])
        np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-4)
        saved = json.loads((out / f"{vid}.json").read_text())
        assert saved["classifier"] == f"probe {head_path}"
    assert np.mean(accuracies) == pytest.approx(metrics["accuracy"], abs=1e-9)
    # zero-shot outputs in the folder are not kept as if they were the probe's
    assert main(["predict", path, held_out[49], "--classes", "cholec80", "--out", str(out), "--no-progress",
                 "--resize", "64x64", "--crop", "64"]) == 1
    assert "prediction with other classifier" in capsys.readouterr().err


def test_python_face_with_a_probe_head(checkpoint, held_out, probe):
    import surgvlp_fast
    from surgvlp_fast.inference.probe import ProbeClassifier

    _, model, _ = checkpoint
    head = read_probe_head(probe[0])
    classifier = ProbeClassifier(head.weight, head.bias, head.class_names)
    timeline = surgvlp_fast.predict(model, held_out[50], classifier, resize=(64, 64), crop=64, batch_size=9)
    assert timeline.class_names == head.class_names and len(timeline.labels) == 28
    smoothed = surgvlp_fast.predict(model, held_out[50], classifier, resize=(64, 64), crop=64, smooth=5)
    assert smoothed.smooth == 5 and smoothed.scores.shape == timeline.scores.shape


def test_a_head_of_another_model_is_refused_in_one_line(checkpoint, held_out, probe, tmp_path, capsys):
    from surgvlp_fast.config import save_config
    from surgvlp_fast.models import build_model
    from surgvlp_fast.training.config import load_config

    _, model, tokenizer = checkpoint
    cfg = load_config(CONFIG, [f"model.text.tokenizer={tokenizer.name_or_path}"])
    other = tmp_path / "other"
    other.mkdir()
    save_config(cfg, str(other / "config.yaml"))
    torch.manual_seed(1)
    vision = dataclasses.replace(cfg.model.vision, weights="random")
    changed = build_model(dataclasses.replace(cfg.model, vision=vision), tokenizer)
    torch.save({"model": changed.state_dict(), "step": 1}, other / "last.pt")
    out = tmp_path / "out"
    assert main(["predict", str(other / "last.pt"), held_out[49], "--probe", probe[0], "--out", str(out),
                 "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained on the features of another model" in err and probe[0] in err
    assert not out.exists()


def test_bad_probe_arguments_are_one_line_before_loading(checkpoint, held_out, probe, tmp_path, capsys):
    path = checkpoint[0]
    text = tmp_path / "head.pt"
    text.write_text("not a head\n")
    base = ["predict", path, held_out[49], "--out", str(tmp_path / "o"), "--no-progress"]
    for extra, message in [([], "give --classes"), (["--classes", "cholec80", "--probe", probe[0]], "one of the two"),
                           (["--probe", str(text)], "not a probe head"),
                           (["--probe", str(tmp_path)], "is a folder"),
                           (["--probe", str(tmp_path / "missing.pt")], "missing.pt"),
                           (["--probe", probe[0], "--resize", "32x32"], "trained on resize 64x64")]:
        assert main([*base, *extra]) == 1, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1, (extra, err)
    assert not (tmp_path / "o").exists()


def test_probe_out_is_checked_like_the_other_options(checkpoint, world, tmp_path, capsys):
    """Only a probe protocol takes it: refused for a zero-shot one before any model is built."""
    assert main(["eval", checkpoint[0], world, "--protocol", "cholec80", "--out", str(tmp_path / "e"),
                 "-o", f"probe_out={tmp_path / 'h.pt'}"]) == 1
    err = capsys.readouterr().err
    assert "probe_out names one head's file: scope it" in err and "Traceback" not in err
    assert not (tmp_path / "h.pt").exists()
    with pytest.raises(ValueError, match="probe_out: cholec80 is no linear-probe protocol"):
        EvalOptions.from_mapping({"cholec80.probe_out": "h.pt"}, "cholec80")
    # unscoped, two probe protocols would write the same file: refused for every protocol
    for protocol in ("cholec80-probe", "autolaparo-probe"):
        with pytest.raises(ValueError, match="scope it to one linear-probe protocol"):
            EvalOptions.from_mapping({"probe_out": "h.pt"}, protocol)
    assert EvalOptions.from_mapping({"cholec80-probe.probe_out": "h.pt"}, "cholec80-probe").probe_out == "h.pt"
    assert EvalOptions.from_mapping({"cholec80-probe.probe_out": "h.pt"}, "autolaparo-probe").probe_out == ""
