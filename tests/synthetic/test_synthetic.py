import filecmp
import json
import os
import subprocess

import numpy as np
import pytest
from PIL import Image

from surgvlp_fast import resources
from surgvlp_fast.synthetic import make_world
from surgvlp_fast.synthetic.phases import CHOLECYSTECTOMY


def _probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=codec_name,r_frame_rate,width,height,nb_frames:format=duration", "-of", "json", path],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_layout_is_complete(tiny_world):
    root, info = tiny_world
    for lec in info["lectures"]:
        vid = lec["video_id"]
        for folder in ("aws_narration_texts", "whisper_narration_texts", "keystep_texts", "abstract_texts"):
            assert (root / folder / f"{vid}.csv").exists()
        probe = _probe(str(root / "videos" / f"{vid}.mp4"))
        stream = probe["streams"][0]
        assert stream["codec_name"] == "h264" and stream["r_frame_rate"] == "25/1"
        assert (stream["width"], stream["height"]) == (64, 64)
        assert abs(float(probe["format"]["duration"]) - lec["duration"]) < 0.05
        assert int(stream["nb_frames"]) == round(lec["duration"] * 25)
    for split in ("train_narration", "train_keystep", "train_abstract", "val"):
        assert (root / "splits" / f"{split}.csv").exists()
    assert (root / "tokenizer" / "tokenizer.json").exists()
    for name in ("cholec80_prompts.txt", "autolaparo_prompts.txt", "cholec_triplet.txt"):
        assert (root / "prompts" / name).exists()


def test_downstream_sets_follow_the_camma_layout(tiny_world):
    root, info = tiny_world
    base = root / "downstream_datasets"
    rows = (base / "cholec80" / "csvs" / "video49.csv").read_text().splitlines()
    assert rows[0] == "path,label" and rows[1].startswith("video49_0.png,")
    n = len(rows) - 1
    assert (base / "cholec80" / "frames" / f"video49_{n}.png").exists()  # files 1-indexed
    assert not (base / "cholec80" / "frames" / "video49_0.png").exists()
    labels = [int(r.split(",")[1]) for r in rows[1:]]
    assert labels == sorted(labels) and labels[0] == 1 and labels[-1] == 7  # ordered phases, all present
    arows = (base / "autolaparo" / "csvs" / "15.csv").read_text().splitlines()
    assert arows[1].startswith("15_1.png,") and (base / "autolaparo" / "frames" / f"15_{len(arows) - 1}.png").exists()
    t50 = base / "CholecT50-challenge-train"
    triplet = np.loadtxt(t50 / "triplet" / "VID06.txt", dtype=np.int32, delimiter=",")
    instrument = np.loadtxt(t50 / "instrument" / "VID06.txt", dtype=np.int32, delimiter=",")
    assert triplet.shape[1] == 101 and instrument.shape[1] == 7
    assert (triplet[:, 0] == np.arange(len(triplet))).all()
    assert len(os.listdir(t50 / "data" / "VID06")) == len(triplet)
    assert Image.open(t50 / "data" / "VID06" / "000000.png").size == (64, 64)
    # labels tied to what is visible: the phase's own instrument triplet appears in most frames of the phase
    bounds = next(d for d in info["downstream"] if d["dataset"] == "cholect50")["phase_bounds"]
    phase = np.searchsorted(bounds, np.arange(len(triplet)), side="right") - 1
    own = triplet[np.arange(len(triplet)), 1 + np.array([CHOLECYSTECTOMY[p].triplet for p in phase])]
    assert own.mean() > 0.6
    vocab = resources.cholect50_vocabulary()
    assert len(vocab["triplet"]) == 100 and vocab["triplet"][0] == "grasper,dissect,cystic_plate"


def test_phases_look_different(tiny_world):
    """The background tint of a phase survives lighting noise: frame colour means cluster by phase."""
    root, info = tiny_world
    rows = (root / "downstream_datasets" / "cholec80" / "csvs" / "video49.csv").read_text().splitlines()[1:]
    frames = root / "downstream_datasets" / "cholec80" / "frames"
    means, labels = [], []
    for k, row in enumerate(rows):
        means.append(np.asarray(Image.open(frames / f"video49_{k + 1}.png"), np.float64).mean((0, 1)))
        labels.append(int(row.split(",")[1]))
    means, labels = np.array(means), np.array(labels)
    centroids = np.stack([means[labels == c].mean(0) for c in range(1, 8)])
    nearest = np.argmin(((means[:, None] - centroids[None]) ** 2).sum(-1), 1) + 1
    assert (nearest == labels).mean() > 0.6


def test_deterministic_for_a_seed_whatever_the_workers(tmp_path):
    kw = dict(preset="tiny", seed=3, lectures=2, cholec80_train=0, cholec80_test=1, autolaparo_train=0,
              autolaparo_test=0, cholect50_test=0)
    make_world(str(tmp_path / "a"), workers=1, **kw)
    make_world(str(tmp_path / "b"), workers=2, **kw)
    cmp = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    for folder in ("videos", "aws_narration_texts", "whisper_narration_texts", "keystep_texts", "splits"):
        a, b = tmp_path / "a" / folder, tmp_path / "b" / folder
        names = sorted(os.listdir(a))
        assert names == sorted(os.listdir(b))
        match, mismatch, errors = filecmp.cmpfiles(a, b, names, shallow=False)
        assert not mismatch and not errors, (folder, mismatch)
    assert not cmp.left_only and not cmp.right_only
    make_world(str(tmp_path / "c"), workers=1, **{**kw, "seed": 4})
    assert not filecmp.cmp(tmp_path / "a" / "aws_narration_texts" / "vd0001syn.csv",
                           tmp_path / "c" / "aws_narration_texts" / "vd0001syn.csv", shallow=False)


def test_refuses_to_overwrite(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("keep")
    with pytest.raises(FileExistsError):
        make_world(str(tmp_path / "x"), preset="tiny")
