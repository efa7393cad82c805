"""`surgvlp-fast import-surglavi` on a SurgLaVi-β look-alike (tests/prep/surglavi_fixture.py): a real
SQLite file with hostile rows and real H.264 videos -> the data folder -> `validate-data` -> training
with SurgVLP, HecVL and PeskaVLP -> SIGKILL -> resume."""
import csv
import glob
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from surglavi_fixture import HOSTILE, make_dataset  # noqa: E402

from surgvlp_fast import cli  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def rows(path):
    return list(csv.DictReader(open(path, newline="", encoding="utf-8")))


def split(out, name):
    return [r["video_path"] for r in rows(os.path.join(out, "splits", f"{name}.csv"))]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("surglavi")
    db, video_root = make_dataset(str(root))
    os.chmod(db, 0o444)           # read-only: the importer must not need to write
    return db, video_root


@pytest.fixture(scope="module")
def imported(dataset, tmp_path_factory):
    db, video_root = dataset
    out = str(tmp_path_factory.mktemp("out") / "data")
    before = sha256(db)
    result = subprocess.run([sys.executable, "-m", "surgvlp_fast.cli", "import-surglavi", db, video_root, out],
                            capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT))
    assert sha256(db) == before and not glob.glob(db + "-*")   # never changed, no journal left
    return out, result


def test_import_writes_a_folder_validate_data_accepts(imported, capsys):
    out, result = imported
    assert result.returncode == 0, result.stderr
    assert cli.main(["validate-data", out, "--deep"]) == 0, capsys.readouterr().out
    # a video and its phases are in one split only; the val video is the one of lowest rank
    train = {v.split("__")[0].split(".")[0] for name in ("train_narration", "train_keystep", "train_abstract")
             for v in split(out, name)}
    val = {v.split(".")[0] for v in split(out, "val")}
    assert len(val) == 1 and not train & val and train | val == {"case_a", "case-b", "case_c", "case_d"}
    assert "case.c" not in os.listdir(os.path.join(out, "videos"))    # '.' would cut the lecture id


def test_levels_map_to_the_three_lecture_levels(imported):
    out, _ = imported
    aws = rows(os.path.join(out, "aws_narration_texts", "case_a.csv"))
    whisper = rows(os.path.join(out, "whisper_narration_texts", "case_a.csv"))
    assert len(aws) == len(whisper) == 10      # the 10 good tasks; every hostile task row dropped
    assert aws[0]["text"].startswith("so here") and whisper[0]["text"].startswith("The ")  # ASR / enhanced
    assert [float(r["start"]) for r in aws] == sorted(float(r["start"]) for r in aws)
    keysteps = rows(os.path.join(out, "keystep_texts", "case_a.csv"))
    assert [r["step"] for r in keysteps][:1] == ["now the exposure of the triangle"]
    assert keysteps[0]["text"] == "This step is the exposure of the triangle, done with care."
    phases = sorted(v for v in os.listdir(os.path.join(out, "videos")) if v.startswith("case_a__phase"))
    assert len(phases) == 2
    first = phases[0][:-4]
    abstract = rows(os.path.join(out, "abstract_texts", f"{first}.csv"))
    assert abstract == [{"start": "0", "end": "20", "text": "A phase of preparation and dissection in a cholecystectomy.",
                         "original": "this part is preparation and dissection"}]
    procedure = rows(os.path.join(out, "keystep_texts", f"{first}.csv"))
    assert [(r["start"], r["end"]) for r in procedure] == [("0", "10"), ("10", "20")]
    assert os.readlink(os.path.join(out, "videos", phases[0])) == "case_a.mp4"


def test_bad_rows_are_one_line_each_and_the_summary_counts_them(imported):
    out, result = imported
    err = result.stderr.splitlines()
    for caption_id, message in HOSTILE.items():
        lines = [x for x in err if f"captions, row caption_id={caption_id}:" in x]
        assert len(lines) == 1 and message in lines[0], (caption_id, lines)
    assert any("videos, row video_id=1: duplicated video_id" in x for x in err)
    assert "Traceback" not in result.stderr
    table = result.stdout
    assert "6 in the database, 4 imported, 2 missing or unreadable" in table
    assert "absent/absent.mp4: not found" in table and "not_a_video/not_a_video.mp4: " in table
    by_level = {line.split()[0]: line.split()[1:] for line in table.splitlines()
                if line.split() and line.split()[0] in ("level", "task", "step", "phase")}
    header = by_level["level"]
    got = {level: dict(zip(header, map(int, by_level[level]))) for level in ("task", "step", "phase")}
    assert got["task"] == {"kept": 40, "undescriptive": 2, "duration": 0, "video-missing": 20, "past-video-end": 1,
                           "no-step-inside": 0, "name-clash": 0}
    assert got["step"] == {"kept": 16, "undescriptive": 0, "duration": 1, "video-missing": 8, "past-video-end": 0,
                           "no-step-inside": 0, "name-clash": 0}
    assert got["phase"]["kept"] == 8 and got["phase"]["no-step-inside"] == 1 and got["phase"]["video-missing"] == 4
    assert "malformed rows skipped: captions 7" in table and "malformed rows skipped: videos 1" in table
    missing = open(os.path.join(out, "missing_videos.txt")).read().splitlines()
    assert len(missing) == 2 and missing[0].endswith("absent/absent.mp4: not found")


def test_rerun_writes_the_same_bytes_and_options_change_the_output(dataset, imported, tmp_path, monkeypatch):
    from surgvlp_fast.prep.importers import surglavi

    db, video_root = dataset
    out, _ = imported
    snapshot = {p: sha256(p) for p in glob.glob(f"{out}/*/*.csv")}
    probed = []
    monkeypatch.setattr(surglavi, "probe_duration", lambda path: probed.append(path) or (None, "probed"))
    assert cli.main(["import-surglavi", db, video_root, out]) == 0
    assert probed == [os.path.join(video_root, "not_a_video", "not_a_video.mp4")]   # the others: known durations
    monkeypatch.undo()
    assert {p: sha256(p) for p in glob.glob(f"{out}/*/*.csv")} == snapshot
    # --keep-undescriptive and --text enhanced; --levels task drops the other levels' files
    other = str(tmp_path / "other")
    assert cli.main(["import-surglavi", db, video_root, other, "--keep-undescriptive", "--text", "enhanced",
                     "--levels", "task,step", "--max-duration", "1000", "--min-duration", "3", "--val-fraction", "0"]) == 0
    assert split(other, "val") == [] and len(split(other, "train_narration")) == 4
    aws = rows(os.path.join(other, "aws_narration_texts", "case_a.csv"))
    assert len(aws) == 10 and all(r["text"].startswith("The ") for r in aws)   # 2 s undescriptive rows < 3 s
    assert "step" not in rows(os.path.join(other, "keystep_texts", "case-b.csv"))[0]
    assert len(rows(os.path.join(other, "keystep_texts", "case-b.csv"))) == 5    # + the 600 s step
    assert not os.listdir(os.path.join(other, "abstract_texts")) and split(other, "train_abstract") == []
    raw = str(tmp_path / "raw")
    assert cli.main(["import-surglavi", db, video_root, raw, "--text", "raw", "--levels", "task"]) == 0
    for folder in ("aws_narration_texts", "whisper_narration_texts"):
        assert all(r["text"].startswith("so here") for r in rows(os.path.join(raw, folder, "case_d.csv")))
    assert split(raw, "train_keystep") == [] and not os.listdir(os.path.join(raw, "keystep_texts"))
    # the same folder re-imported with fewer levels: the files of the dropped level are removed
    assert cli.main(["import-surglavi", db, video_root, out, "--levels", "task"]) == 0
    assert not os.listdir(os.path.join(out, "keystep_texts")) and not glob.glob(f"{out}/videos/*__phase*")
    assert cli.main(["import-surglavi", db, video_root, out]) == 0
    assert {p: sha256(p) for p in glob.glob(f"{out}/*/*.csv")} == snapshot


def test_unusable_databases_are_one_line_and_exit_1(dataset, tmp_path, capsys):
    db, video_root = dataset
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    assert cli.main(["import-surglavi", str(junk), video_root, str(tmp_path / "o1")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an SQLite database" in err[0] and not os.path.exists(tmp_path / "o1")
    broken = str(tmp_path / "broken.db")
    con = sqlite3.connect(broken)
    con.execute("CREATE TABLE videos (video_id INTEGER, name TEXT)")
    con.execute("CREATE TABLE captions (caption_id INTEGER, video_id INTEGER, level_id INTEGER, start_time REAL, "
                "end_time REAL, caption TEXT, duration REAL, is_descriptive INTEGER, is_surgical_content INTEGER)")
    con.commit()
    con.close()
    assert cli.main(["import-surglavi", broken, video_root, str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "table 'captions' has no column(s) raw_narration (needed by --text both)" in err[0]
    con = sqlite3.connect(broken)
    con.execute("DROP TABLE videos")
    con.commit()
    con.close()
    assert cli.main(["import-surglavi", broken, video_root, str(tmp_path / "o3"), "--text", "enhanced"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "table 'videos' is missing" in err[0]
    assert cli.main(["import-surglavi", db, video_root, str(tmp_path / "o4"), "--levels", "task,clips"]) == 1
    assert "--levels takes task, step, phase" in capsys.readouterr().err


def tree(out):
    """Every file of the folder: relative path -> bytes, or the target of a link."""
    files = {}
    for folder, _, names in os.walk(out):
        for name in names:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, out)
            if not rel.startswith(".surglavi_shards"):
                files[rel] = ("link", os.readlink(path)) if os.path.islink(path) else open(path, "rb").read()
    return files


def test_three_shards_and_a_merge_equal_one_run(dataset, imported, tmp_path, capsys):
    db, video_root = dataset
    out, _ = imported
    assert cli.main(["import-surglavi", db, video_root, out]) == 0
    sharded = str(tmp_path / "sharded")
    assert cli.main(["import-surglavi", db, video_root, sharded, "--merge", "3"]) == 1      # no shard yet
    assert "shard-0-of-3.json: missing: run import-surglavi --shard 0/3 first" in capsys.readouterr().err
    for shard in (2, 0, 1):
        assert cli.main(["import-surglavi", db, video_root, sharded, "--shard", f"{shard}/3"]) == 0
    # a shard killed mid-way: its files half written (a leftover temporary file, a file missing), rerun
    victim = sorted(glob.glob(f"{sharded}/aws_narration_texts/*.csv"))[0]
    os.remove(victim)
    for name in (victim, sorted(glob.glob(f"{sharded}/keystep_texts/*.csv"))[0]):
        open(os.path.join(os.path.dirname(name), "." + os.path.basename(name) + ".surglavi-tmp"), "w").write("sta")
    for shard in range(3):
        assert cli.main(["import-surglavi", db, video_root, sharded, "--shard", f"{shard}/3"]) == 0
    capsys.readouterr()
    assert cli.main(["import-surglavi", db, video_root, sharded, "--merge", "3"]) == 0
    assert "(3 shards merged)" in capsys.readouterr().out
    assert tree(sharded) == tree(out)
    # a merge with other settings than its shards is refused
    assert cli.main(["import-surglavi", db, video_root, sharded, "--merge", "3", "--text", "raw"]) == 1
    assert "made with other settings (text) than this merge" in capsys.readouterr().err
    assert cli.main(["import-surglavi", db, video_root, sharded, "--shard", "3/3"]) == 1
    assert "0 <= I < N" in capsys.readouterr().err


# ---- training on the imported folder

TINY = ["model.text.path=", "model.vision.backbone=tiny_cnn", "model.vision.weights=random", "model.embed_dim=32",
        "model.text.hidden_size=32", "model.text.num_layers=2", "model.text.num_heads=2",
        "model.text.intermediate_size=64", "model.text.max_positions=80", "model.text.last_n_layers=2",
        "data.num_workers=0", "device=cpu", "train.progress_bar=false", "schedule.mode=batch",
        "schedule.batches.clip=1", "schedule.batches.keystep=1", "schedule.batches.video=1", "eval.every_epochs=0",
        *(f"data.{level}.{key}" for level in ("clip", "val", "keystep", "video")
          for key in ("size=32", "num_frames=4", "max_length=48", "batch_size=2"))]


@pytest.fixture(scope="module")
def trainable(imported, tmp_path_factory):
    from surgvlp_fast.synthetic.tokenizer import train_wordpiece_tokenizer

    out, _ = imported
    texts = [r["text"] for f in glob.glob(f"{out}/*_texts/*.csv") for r in rows(f)]
    tokenizer = train_wordpiece_tokenizer(texts, str(tmp_path_factory.mktemp("tok")), vocab_size=200)
    return [f"data.root={out}", f"model.text.tokenizer={tokenizer}", *TINY]


def train_records(work_dir):
    return [r for r in map(json.loads, open(os.path.join(work_dir, "metrics.jsonl"))) if r["kind"] == "train"]


@pytest.mark.parametrize("method", ["surgvlp", "hecvl", "peskavlp"])
def test_each_method_trains_on_the_imported_folder(trainable, tmp_path, method):
    work_dir = str(tmp_path / method)
    config = os.path.join(ROOT, "configs", f"{method}.yaml")
    assert cli.main(["train", config, "--work-dir", work_dir, *trainable, "train.epochs=1", "train.max_steps=3"]) == 0
    records = train_records(work_dir)
    levels = {r["level"] for r in records}
    assert levels == ({"clip"} if method == "surgvlp" else {"clip", "keystep", "video"}), levels
    assert all(r["loss"] == r["loss"] for r in records)


def test_surglavi_config_checks(trainable, tmp_path, capsys):
    import yaml

    config = os.path.join(ROOT, "configs", "surglavi.yaml")
    assert cli.main(["train", config, "--work-dir", str(tmp_path / "w"), "--check", "model.text.tokenizer=/tmp/t"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["method"] == "peskavlp" and resolved["data"]["root"] == "data/surglavi"
    assert {level: resolved["data"][level]["split"] for level in ("clip", "keystep", "video", "val")} == {
        "clip": "splits/train_narration.csv", "keystep": "splits/train_keystep.csv",
        "video": "splits/train_abstract.csv", "val": "splits/val.csv"}


def test_training_killed_and_resumed(trainable, tmp_path):
    work_dir = str(tmp_path / "run")
    command = [sys.executable, "-m", "surgvlp_fast.cli", "train", os.path.join(ROOT, "configs", "surglavi.yaml"),
               "--work-dir", work_dir, *trainable, "train.epochs=100", "checkpoint.every_steps=1",
               "validation.every_epochs=0"]
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    process = subprocess.Popen(command + ["train.max_steps=1000"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoints = os.path.join(work_dir, "checkpoints")
    deadline = time.time() + 120
    while not (os.path.isdir(checkpoints) and len([f for f in os.listdir(checkpoints) if f.endswith(".pt")]) >= 2):
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.time() < deadline, "no checkpoint in time"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    killed_at = max(int(f[4:-3]) for f in os.listdir(checkpoints) if f.endswith(".pt"))   # step000000002.pt
    result = subprocess.run(command + ["--resume", f"train.max_steps={killed_at + 3}"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    log = open(os.path.join(work_dir, "log.txt")).read()
    assert f"resumed from {checkpoints}/step{killed_at:09d}.pt" in log
    assert f"train.max_steps={killed_at + 3} reached" in log
    steps = sorted({r["step"] for r in train_records(work_dir)})
    assert steps == list(range(1, killed_at + 4))
