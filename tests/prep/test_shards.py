"""Data preparation at cluster scale (prep/shards.py): for prepare-videos, extract-frames, narrations
transcribe and augment-texts, 3 shards (+ the merge where one file comes from all videos) give the bytes of
one unsharded run; a shard killed mid-way (a real process killed by SIGKILL, or the leftovers one leaves)
and run again finishes with the same bytes; a bad --shard / --merge is one line and exit 1; the sbatch
array template runs a real shard and submits the array and its merge."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chat_server import ChatServer
from narration_audio import cut_world, spoken_lecture
from surgvlp_fast import cli
from surgvlp_fast.prep.shards import shard_of

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}


def tree(root, skip=()):
    """relative path -> bytes, ('link', target) or, for a frame index sidecar, its arrays but the
    file's mtime (which it records, and which no two runs share)."""
    files = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in names:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                files[rel] = ("link", os.readlink(path))
            elif name.endswith(".index.npz"):
                with np.load(path) as a:   # "source": the video's [size, mtime_ns]
                    files[rel] = {k: (a[k][:1] if k == "source" else a[k]).tobytes() for k in a.files}
            else:
                files[rel] = Path(path).read_bytes()
    return files


def killed_mid_way(argv, started, timeout=120):
    """Run `surgvlp-fast argv` in its own session and SIGKILL the whole group (as SLURM kills a job step)
    once `started()` holds; returns whether it was killed before finishing."""
    proc = subprocess.Popen([sys.executable, "-m", "surgvlp_fast.cli", *argv], env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while proc.poll() is None and not started() and time.time() < deadline:
        time.sleep(0.005)
    alive = proc.poll() is None
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    return alive


def biggest_shard(ids, count=3):
    by = {}
    for i in ids:
        by.setdefault(shard_of(i, count), []).append(i)
    return max(sorted(by), key=lambda s: len(by[s])), by


# ---- prepare-videos: per-video cache entries, links for linked sources, videos.json merged

@pytest.fixture
def sources(tiny_world, tmp_path):
    root, info = tiny_world
    src, elsewhere = tmp_path / "src", tmp_path / "elsewhere"
    src.mkdir(), elsewhere.mkdir()
    for lecture in info["lectures"][:5]:
        vid = lecture["video_id"]
        if vid == "vd0001syn":       # as import-surglavi: the whole video a link outside, a phase a link to it
            shutil.copy(root / "videos" / f"{vid}.mp4", elsewhere / f"{vid}.mp4")
            os.symlink(elsewhere / f"{vid}.mp4", src / f"{vid}.mp4")
            os.symlink(f"{vid}.mp4", src / f"{vid}__phase7.mp4")
        else:
            shutil.copy(root / "videos" / f"{vid}.mp4", src / f"{vid}.mp4")
    return src


def test_prepare_videos_shards_merge_kill_and_links(sources, tmp_path, capsys):
    options = ["--short-side", "32", "--jobs", "1", "--threads", "1"]
    one, sharded = str(tmp_path / "one"), str(tmp_path / "sharded")
    assert cli.main(["prepare-videos", str(sources), one, *options]) == 0
    out = capsys.readouterr().out
    assert "vd0001syn__phase7: linked" in out and out.count(": done") == 5      # the link is not encoded
    assert os.readlink(os.path.join(one, "vd0001syn__phase7.mp4")) == "vd0001syn.mp4"
    assert os.readlink(os.path.join(one, "vd0001syn__phase7.mp4.index.npz")) == "vd0001syn.mp4.index.npz"
    assert "vd0001syn__phase7" in (Path(one) / "videos.json").read_text()
    assert not [n for n in os.listdir(one) if n.startswith(".")]

    assert cli.main(["prepare-videos", str(sources), sharded, *options, "--merge", "3"]) == 1
    assert "shard-0-of-3.json: missing: run prepare-videos --shard 0/3 first" in capsys.readouterr().err
    ids = [n.split(".")[0] for n in os.listdir(sources) if "__phase" not in n]
    victim, by_shard = biggest_shard(ids)
    assert len(by_shard[victim]) >= 2
    for shard in range(3):
        if shard != victim:
            assert cli.main(["prepare-videos", str(sources), sharded, *options, "--shard", f"{shard}/3"]) == 0
    argv = ["prepare-videos", str(sources), sharded, *options, "--shard", f"{victim}/3"]
    first = os.path.join(sharded, f"{sorted(by_shard[victim])[0]}.mp4")
    assert killed_mid_way(argv, lambda: os.path.exists(first))       # killed while encoding its second video
    assert not (Path(sharded) / "videos.json").exists()
    assert not all(os.path.exists(os.path.join(sharded, f"{v}.mp4")) for v in by_shard[victim])
    last = sorted(by_shard[victim])[-1]          # and what other stopped runs leave: a work folder, a temp file
    os.makedirs(os.path.join(sharded, f".{last}.tmp-old"))
    Path(sharded, f".{last}.tmp-old", f"{last}.mp4").write_bytes(b"half an mp4")
    Path(sharded, f".{last}.x1y2.mp4.tmp").write_bytes(b"older version")
    capsys.readouterr()
    assert cli.main(argv) == 0
    assert "skipped" in capsys.readouterr().out                      # the finished video is not encoded again
    assert cli.main(["prepare-videos", str(sources), sharded, *options, "--merge", "3"]) == 0
    assert "3 shards merged" in capsys.readouterr().out
    assert tree(sharded, skip={".prepare_videos_shards"}) == tree(one)
    # a merge with other encoding options than its shards is refused
    assert cli.main(["prepare-videos", str(sources), sharded, *options, "--crf", "30", "--merge", "3"]) == 1
    assert "made with other settings (crf) than this merge" in capsys.readouterr().err


# ---- extract-frames: per-video frames, CSVs and records; no merge

def test_extract_frames_shards_and_a_stopped_shard(tiny_world, tmp_path, capsys):
    root, info = tiny_world
    videos = [str(root / "videos" / f"{lec['video_id']}.mp4") for lec in info["lectures"][:4]]
    opts = ["--size", "24", "--fps", "0.5"]
    one, sharded = tmp_path / "one", tmp_path / "sharded"
    assert cli.main(["extract-frames", *videos, "-o", str(one / "frames"), "--csv", str(one / "csv"), *opts]) == 0
    for shard in range(3):
        assert cli.main(["extract-frames", *videos, "-o", str(sharded / "frames"), "--csv", str(sharded / "csv"),
                         *opts, "--shard", f"{shard}/3"]) == 0
    assert tree(sharded) == tree(one)
    # a shard stopped while moving frames: its work folder left, frames and the record missing, and a
    # frame of an earlier extraction with more frames; the rerun redoes only that video
    name = Path(videos[0]).stem
    frames = sharded / "frames"
    (frames / f".{name}.frames-tmp").mkdir()
    (frames / f".{name}.frames-tmp" / f"{name}_1.png").write_bytes(b"half")
    os.remove(frames / f".{name}.frames.json")
    os.remove(frames / f"{name}_3.png")
    (frames / f"{name}_99.png").write_bytes(b"stale")
    (frames / f"{name}_2.png").write_bytes(b"cut short")
    capsys.readouterr()
    for shard in range(3):
        assert cli.main(["extract-frames", *videos, "-o", str(frames), "--csv", str(sharded / "csv"), *opts,
                         "--shard", f"{shard}/3"]) == 0
    out = capsys.readouterr().out
    assert out.count("(already there)") == len(videos) - 1
    assert tree(sharded) == tree(one)


# ---- narrations transcribe: per-video CSVs (pocketsphinx); no merge

def test_transcribe_shards_and_a_stopped_shard(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for k, sentence in enumerate(["we open the skin", "the doctor cuts the vessel", "we close the wound"]):
        spoken_lecture(videos / f"lec{k:02d}.mp4", [(0.5, sentence)], tail_s=0.5)
    one, sharded = tmp_path / "one", tmp_path / "sharded"
    base = ["narrations", "transcribe", str(videos)]
    assert cli.main([*base, str(one), "--engine", "pocketsphinx", "--no-progress"]) == 0
    for shard in range(3):
        assert cli.main([*base, str(sharded), "--engine", "pocketsphinx", "--no-progress", "--shard", f"{shard}/3"]) == 0
    assert tree(sharded) == tree(one) and len(tree(one)) == 3
    # stopped before its rename: the CSV missing, its temporary file half written
    victim = sorted(os.listdir(sharded))[1]
    os.remove(sharded / victim)
    (sharded / f"{victim}.tmp").write_text("start,end,te")
    shard = shard_of(victim.split(".")[0], 3)
    capsys.readouterr()
    assert cli.main([*base, str(sharded), "--engine", "pocketsphinx", "--no-progress", "--shard", f"{shard}/3"]) == 0
    assert "1 transcribed" in capsys.readouterr().out
    assert tree(sharded) == tree(one)


# ---- augment-texts: per-lecture CSVs, the knowledge base merged

KEEP = ("vd0001syn", "vd0002syn", "vd0006syn")
FAST = ["--backoff", "0.01", "--timeout", "30", "--no-progress", "--concurrency", "1"]


def test_augment_texts_shards_merge_and_a_killed_shard(tiny_world, tmp_path, capsys):
    one = Path(cut_world(tiny_world[0], tmp_path / "one", KEEP))
    sharded = Path(cut_world(tiny_world[0], tmp_path / "sharded", KEEP))
    with ChatServer() as server:
        assert cli.main(["augment-texts", str(one), "--llm", server.url, "--model", "tiny-llm", *FAST]) == 0
    victim, by_shard = biggest_shard(KEEP)
    with ChatServer(hold_after=2) as server:   # the victim gets two answers, then waits until killed
        argv = ["augment-texts", str(sharded), "--llm", server.url, "--model", "tiny-llm", *FAST]
        assert killed_mid_way([*argv, "--shard", f"{victim}/3"], lambda: server.answered >= 2 and len(
            list((sharded / ".augment_cache").rglob("*.json"))) >= 2)
        server.hold_after = None
        server.release.set()
        assert cli.main([*argv, "--merge", "3"]) == 1
        assert "missing: run augment-texts --shard" in capsys.readouterr().err
        for shard in (*(s for s in range(3) if s != victim), victim):
            assert cli.main([*argv, "--shard", f"{shard}/3"]) == 0
        assert not (sharded / "knowledge_base").exists()
        assert cli.main(["augment-texts", str(sharded), "--model", "tiny-llm", "--merge", "3"]) == 0
    assert "3 shards merged" in capsys.readouterr().out
    assert tree(sharded, skip={".augment_texts_shards"}) == tree(one)
    assert cli.main(["augment-texts", str(sharded), "--model", "other-llm", "--merge", "3"]) == 1
    assert "made with other settings (model) than this merge" in capsys.readouterr().err


# ---- bad values, one line each

@pytest.mark.parametrize("value", ["3/3", "4/3", "x", "1/0", "1/2/3"])
def test_bad_shard_is_one_line(value, tmp_path, capsys):
    (tmp_path / "src").mkdir()
    commands = [["prepare-videos", str(tmp_path / "src"), str(tmp_path / "dst")],
                ["extract-frames", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "frames")],
                ["narrations", "transcribe", str(tmp_path / "src"), str(tmp_path / "out"), "--engine", "pocketsphinx"],
                ["augment-texts", str(tmp_path / "src"), "--llm", "http://127.0.0.1:9/v1", "--model", "m"]]
    for argv in commands:
        assert cli.main([*argv, "--shard", value]) == 1, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--shard" in err[0] and value in err[0], (argv, err)
    for argv in (commands[0], commands[3]):
        assert cli.main([*argv, "--merge", "0"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--merge takes the number of shards" in err[0]


# ---- the sbatch template

def fake_bin(folder: Path) -> Path:
    """`sbatch` that records its arguments and answers a job id; `surgvlp-fast` the real command."""
    folder.mkdir()
    (folder / "sbatch").write_text(f'#!/bin/bash\necho "$*" >> {folder}/sbatch.log\necho 4242\n')
    (folder / "surgvlp-fast").write_text(f'#!/bin/bash\nexec {sys.executable} -m surgvlp_fast.cli "$@"\n')
    for name in ("sbatch", "surgvlp-fast"):
        os.chmod(folder / name, 0o755)
    return folder


def test_sbatch_template_runs_a_shard_and_submits_the_merge(tiny_world, tmp_path):
    root, info = tiny_world
    script = str(REPO / "configs" / "slurm" / "prepare.sbatch")
    bin_dir = fake_bin(tmp_path / "bin")
    env = {k: v for k, v in ENV.items() if not k.startswith("SLURM_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    # on the login node: the array, then the merge after it
    done = subprocess.run(["bash", script, "3", "prepare-videos", "src", "dst"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    array, merge = (bin_dir / "sbatch.log").read_text().splitlines()
    assert array.startswith("--parsable --array=0-2 ") and array.endswith(f"{script} 3 prepare-videos src dst")
    assert "--dependency=afterok:4242" in merge and merge.endswith(f"{script} 3 prepare-videos src dst")
    # extract-frames writes per-video files only: no merge job
    done = subprocess.run(["bash", script, "2", "extract-frames", "v.mp4", "-o", "f"], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0 and len((bin_dir / "sbatch.log").read_text().splitlines()) == 3
    # an array task (ids 1..3, as --array=1-3 numbers them) runs its shard for real
    videos = [str(root / "videos" / f"{lec['video_id']}.mp4") for lec in info["lectures"]]
    shard = shard_of(Path(videos[0]).stem, 3)
    task = {**env, "SLURM_JOB_ID": "7", "SLURM_ARRAY_JOB_ID": "7", "SLURM_ARRAY_TASK_ID": str(shard + 1),
            "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "3", "SLURM_ARRAY_TASK_COUNT": "3"}
    done = subprocess.run(["bash", script, "3", "extract-frames", *videos, "-o", str(tmp_path / "frames"),
                           "--fps", "0.25"], env=task, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"shard {shard}/3:" in done.stdout
    expected = {Path(v).stem for v in videos if shard_of(Path(v).stem, 3) == shard}
    assert {n.rsplit("_", 1)[0] for n in os.listdir(tmp_path / "frames") if n.endswith(".png")} == expected
    # an array of another size than N is refused
    done = subprocess.run(["bash", script, "4", "extract-frames", *videos, "-o", str(tmp_path / "f2")], env=task,
                          capture_output=True, text=True)
    assert done.returncode == 1 and "4" in done.stderr and not (tmp_path / "f2").exists()
