import os
import shutil

import pytest

from surgvlp_fast import cli
from surgvlp_fast.prep.extract_frames import extract_frames
from surgvlp_fast.prep.make_splits import make_splits
from surgvlp_fast.prep.validate_data import validate_data


@pytest.fixture
def world_copy(tiny_world, tmp_path):
    root, info = tiny_world
    dst = tmp_path / "copy"
    shutil.copytree(root, dst, ignore=shutil.ignore_patterns("*.npz"))
    return dst, info


def _errors(root, **kw):
    return [p for p in validate_data(str(root), **kw) if p.severity == "error"]


def test_clean_world_passes_and_cli_exit_status(tiny_world, world_copy, capsys):
    root, _ = tiny_world
    assert _errors(root, deep=True) == []
    assert cli.main(["validate-data", str(root)]) == 0
    bad, _ = world_copy
    (bad / "aws_narration_texts" / "vd0001syn.csv").write_text("start,end,text\n3,1,x\n")
    assert cli.main(["validate-data", str(bad)]) == 1
    assert "vd0001syn.csv, row 2: start 3.0 is after end 1.0" in capsys.readouterr().out


BAD_INPUTS = [
    # (file relative to the world, new content, expected row, words)
    ("aws_narration_texts/vd0001syn.csv", "start,text\n0,a\n", 1, "missing column"),
    ("whisper_narration_texts/vd0002syn.csv", "start,end,text\n0,1,a\n-2,3,b\n", 3, ">= 0"),
    ("whisper_narration_texts/vd0002syn.csv", "start,end,text\nzero,1,a\n", 2, "not a number"),
    ("aws_narration_texts/vd0003syn.csv", "start,end,text\n0,1,a\n9,4,b\n", 3, "after end"),
    ("aws_narration_texts/vd0003syn.csv", "start,end,text\n0,1,\"\"\n", 2, "empty text"),
    ("keystep_texts/vd0001syn.csv", "start,end,step,text\n0,5,A,a\n4,9,,b\n", 3, "empty step"),
    ("keystep_texts/vd0001syn.csv", "start,end,step,text\n10,15,A,a\n0,9,B,b\n", None, "temporal order"),
    ("splits/train_narration.csv", "video_path\nvd0001syn.mp4\nnothere.mp4\n", 3, "not found"),
    ("splits/val.csv", "path\nvd0001syn.mp4\n", 1, "missing column 'video_path'"),
    ("abstract_texts/vd0001syn.csv", "start,end,text\n", None, "no abstract row"),
    ("downstream_datasets/cholec80/csvs/video49.csv", "path,label\nvideo49_0.png,1\nvideo49_1.png,9\n", 3, "outside 1..7"),
    ("downstream_datasets/cholec80/csvs/video49.csv", "path,label\nvideo49_0.png,1\nvideo49_999.png,2\n", 3, "not found"),
    ("downstream_datasets/cholec80/csvs/video49.csv", "file,label\n", 1, "missing column"),
    ("downstream_datasets/CholecT50-challenge-train/verb/VID06.txt", "0,1,0\n", 1, "expected 11 values"),
]


@pytest.mark.parametrize("relative,content,row,words", BAD_INPUTS)
def test_each_kind_of_bad_input_is_reported_with_file_and_row(world_copy, relative, content, row, words):
    root, _ = world_copy
    (root / relative).write_text(content)
    errors = _errors(root)
    match = [e for e in errors if e.path.endswith(relative) and words in e.message]
    assert match, [str(e) for e in errors]
    assert match[0].row == row


def test_missing_things(world_copy):
    root, _ = world_copy
    os.remove(root / "whisper_narration_texts" / "vd0001syn.csv")
    shutil.rmtree(root / "abstract_texts")
    os.remove(root / "downstream_datasets" / "CholecT50-challenge-train" / "data" / "VID06" / "000003.png")
    (root / "videos" / "vd0002syn.mp4").write_bytes(b"not a video")
    messages = [str(e) for e in _errors(root, deep=True)]
    assert any("vd0001syn.csv" in m and "missing text CSV" in m for m in messages)
    assert any("abstract_texts" in m and "folder missing" in m for m in messages)
    assert any("000003.png" in m and "frame missing" in m for m in messages)
    assert any("vd0002syn.mp4" in m for m in messages)


def test_every_problem_is_reported_not_just_the_first(world_copy):
    root, _ = world_copy
    (root / "aws_narration_texts" / "vd0001syn.csv").write_text("start,end,text\n-1,1,a\n0,1,\n2,1,b\n")
    rows = sorted(e.row for e in _errors(root) if e.path.endswith("vd0001syn.csv"))
    assert rows == [2, 3, 4]


def test_extract_frames_and_make_splits(tiny_world, tmp_path):
    root, info = tiny_world
    lecture = info["lectures"][0]
    files = extract_frames(str(root / "videos" / f"{lecture['video_id']}.mp4"), str(tmp_path / "frames"))
    assert len(files) == int(lecture["duration"])
    assert os.path.basename(files[0]) == f"{lecture['video_id']}_1.png"
    assert cli.main(["extract-frames", str(root / "videos" / "vd0001syn.mp4"), "-o", str(tmp_path / "f2"),
                     "--csv", str(tmp_path / "csvs")]) == 0
    assert (tmp_path / "csvs" / "vd0001syn.csv").read_text().splitlines()[1] == "vd0001syn_1.png,"

    copy = tmp_path / "w"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("downstream_datasets", "*.npz"))
    os.remove(copy / "abstract_texts" / "vd0002syn.csv")
    with pytest.raises(FileExistsError):
        make_splits(str(copy))
    splits = make_splits(str(copy), val_fraction=0.34, seed=1, overwrite=True)
    assert len(splits["val"]) == 2 and len(splits["train_narration"]) == 4
    assert not set(splits["val"]) & set(splits["train_narration"])
    assert "vd0002syn.mp4" not in splits["train_abstract"] or "vd0002syn.mp4" in splits["val"]
    assert _errors(copy) == []
