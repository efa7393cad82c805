"""`surgvlp-fast predict` and `surgvlp_fast.predict`: the zero-shot protocol's computation through another
door (same frames -> same predictions), the files it writes, skipping, sharding and hostile inputs."""
import csv
import json
import os
import subprocess

import numpy as np
import pytest
import surgvlp_fast
from inference_helpers import FRAME_OPTIONS
from surgvlp_fast.cli import main
from surgvlp_fast.evaluation.options import EvalOptions
from surgvlp_fast.evaluation.registry import get_protocol
from surgvlp_fast.config import parse_shard
from surgvlp_fast.inference.batch import output_names
from surgvlp_fast.inference.classes import class_set
from surgvlp_fast.resources import phase_names
from video_helpers import FFMPEG


def protocol_result(model, tokenizer, world, smooth_window=1):
    options = EvalOptions(resize="64x64", crop=64, batch_size=16, smooth_window=smooth_window, videos="49-50")
    return get_protocol("cholec80").run(model, tokenizer, world, options)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("smooth", [0, 5])
def test_predict_command_equals_the_zero_shot_protocol_on_the_same_frames(checkpoint, world, held_out, tmp_path,
                                                                         capsys, smooth):
    path, model, tokenizer = checkpoint
    result = protocol_result(model, tokenizer, world, smooth_window=max(1, smooth))
    out = tmp_path / "out"
    code = main(["predict", path, *held_out.values(), "--classes", "cholec80", "--out", str(out), "--batch-size", "16",
                 "--smooth", str(smooth), "--no-progress", *FRAME_OPTIONS])
    assert code == 0, capsys.readouterr().err
    names = phase_names("cholec80")
    accuracies = []
    for number, video in held_out.items():
        labels, expected = result.per_video[f"video{number:02d}"]
        rows = read_csv(out / f"video{number:02d}.csv")
        predicted = np.array([names.index(r["class"]) for r in rows])
        assert [float(r["time"]) for r in rows] == list(range(len(labels)))
        np.testing.assert_array_equal(predicted, expected)   # frame for frame
        probabilities = np.array([[float(r[n]) for n in names] for r in rows])
        np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-4)
        np.testing.assert_array_equal(probabilities.argmax(1), predicted)
        accuracies.append(100 * float((predicted == labels).mean()))
        summary = json.loads((out / f"video{number:02d}.json").read_text())
        segments = summary["segments"]
        assert segments[0]["start"] == 0 and segments[-1]["end"] == summary["duration"] == len(labels)
        assert all(a["end"] == b["start"] and a["class"] != b["class"] for a, b in zip(segments, segments[1:]))
        assert sum(s["duration"] for s in segments) == pytest.approx(len(labels))
        assert sum(summary["time_per_class"].values()) == pytest.approx(len(labels))
        starts = [names.index(s["class"]) for s in segments]
        assert starts == [int(predicted[int(s["start"])]) for s in segments]
        assert (out / f"video{number:02d}.png").stat().st_size > 5_000
    assert np.mean(accuracies) == pytest.approx(result.metrics["accuracy"], abs=1e-9)   # the protocol's score
    summary_rows = read_csv(out / "summary.csv")
    assert [r["video"] for r in summary_rows] == [os.path.basename(v) for v in held_out.values()]
    printed = capsys.readouterr().out
    assert "2 predicted, 0 skipped, 0 failed" in printed and "Timelines in" in printed


def test_python_face_gives_the_command_s_timeline(checkpoint, world, held_out, tmp_path):
    path, model, tokenizer = checkpoint
    loaded, loaded_tokenizer, _ = surgvlp_fast.load(path)
    video = held_out[49]
    timeline = surgvlp_fast.predict(loaded, video, "cholec80", tokenizer=loaded_tokenizer, resize=(64, 64), crop=64,
                                    batch_size=7, smooth=3)
    assert main(["predict", path, video, "--classes", "cholec80", "--out", str(tmp_path), "--batch-size", "7",
                 "--smooth", "3", "--no-progress", *FRAME_OPTIONS]) == 0
    rows = read_csv(tmp_path / "video49.csv")
    assert [r["class"] for r in rows] == [timeline.class_names[i] for i in timeline.labels]
    saved = json.loads((tmp_path / "video49.json").read_text())
    assert saved["segments"] == [s.as_dict() for s in timeline.segments()]
    # batch size changes nothing but the memory (one batch of frames at a time)
    again = surgvlp_fast.predict(model, video, "cholec80", tokenizer=tokenizer, resize=(64, 64), crop=64, batch_size=25,
                                 smooth=3)
    np.testing.assert_array_equal(again.labels, timeline.labels)
    assert not model.training


def test_fps_and_the_fast_preprocessing(checkpoint, held_out):
    _, model, tokenizer = checkpoint
    video = held_out[50]
    twice = surgvlp_fast.predict(model, video, "cholec80", tokenizer=tokenizer, fps=2, resize=(64, 64), crop=64)
    assert twice.times.tolist() == [k / 2 for k in range(56)] and twice.duration == 28
    once = surgvlp_fast.predict(model, video, "cholec80", tokenizer=tokenizer, resize=(64, 64), crop=64)
    np.testing.assert_array_equal(twice.labels[::2], once.labels)   # same frames at whole seconds
    fast = surgvlp_fast.predict(model, video, "cholec80", tokenizer=tokenizer, resize=(64, 64), crop=64,
                                preprocess="fast")
    # 64x64 -> 64x64: no resampling, so the tensor path gives the official path's input exactly
    np.testing.assert_array_equal(fast.labels, once.labels)


def test_class_files(tmp_path, checkpoint, held_out):
    _, model, tokenizer = checkpoint
    good = tmp_path / "classes.txt"
    good.write_text("# my classes\nDissection: the hook dissects the triangle | calot triangle dissection\n\n"
                    "Clipping: the clipper clips the duct\nthe bag holds the gallbladder\n")
    classes = class_set(str(good))
    assert classes.names == ("Dissection", "Clipping", "the bag holds the gallbladder")
    assert classes.prompts[0] == ("the hook dissects the triangle", "calot triangle dissection")
    timeline = surgvlp_fast.predict(model, held_out[49], str(good), tokenizer=tokenizer, resize=(64, 64), crop=64)
    assert timeline.scores.shape == (25, 3) and set(timeline.labels) <= {0, 1, 2}
    for text, message in [("Only: one class\n", "at least 2"), ("A: x\nA: y\n", "given twice"),
                          (": nameless\nB: y\n", "row 1")]:
        bad = tmp_path / "bad.txt"
        bad.write_text(text)
        with pytest.raises(ValueError, match=message):
            class_set(str(bad))


def test_skips_existing_outputs_unless_overwrite_and_shards(checkpoint, held_out, tmp_path, capsys):
    path = checkpoint[0]
    out = tmp_path / "out"
    args = ["predict", path, *held_out.values(), "--classes", "cholec80", "--out", str(out), "--no-progress",
            *FRAME_OPTIONS]
    assert main([*args, "--shard", "1/2"]) == 0
    assert sorted(os.listdir(out)) == ["summary-shard1of2.csv", "video50.csv", "video50.json", "video50.png"]
    capsys.readouterr()
    before = (out / "video50.json").stat().st_mtime_ns
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "video50.mp4: outputs exist, skipped" in printed and "1 predicted, 1 skipped" in printed
    assert (out / "video50.json").stat().st_mtime_ns == before
    assert len(read_csv(out / "summary.csv")) == 2   # the skipped video is in the run's table
    assert main([*args, "--overwrite"]) == 0
    assert "2 predicted, 0 skipped" in capsys.readouterr().out
    # outputs of another class set are not silently kept nor replaced
    assert main([*args[:4], "--classes", "autolaparo", *args[6:]]) == 1
    assert "prediction with other classes" in capsys.readouterr().err
    assert main([*args, "--smooth", "5"]) == 1
    assert "prediction with other smooth_seconds" in capsys.readouterr().err
    assert parse_shard("0/1") == (0, 1)
    for bad in ("2/2", "x", "1/0"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)
    assert output_names(["a/x.mp4", "b/x.mkv", "c/y.mp4"]) == {"a/x.mp4": "a_x", "b/x.mkv": "b_x", "c/y.mp4": "y"}


def test_hostile_inputs_fail_one_line_each_and_the_others_go_on(checkpoint, held_out, videos, tmp_path, capsys):
    path = checkpoint[0]
    good = held_out[49]
    data = open(good, "rb").read()
    hostile = {"truncated.mp4": data[: len(data) * 6 // 10], "zero_length.mp4": b"",
               "notes.mp4": b"start,end,text\n0,1,hello\n" * 40}
    for name, content in hostile.items():
        (tmp_path / name).write_bytes(content)
    empty_folder = tmp_path / "a_folder"
    empty_folder.mkdir()
    no_frames = str(tmp_path / "no_frames.mkv")
    subprocess.run([FFMPEG, "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25", "-frames:v", "0",
                    "-c:v", "libx264", no_frames], check=True)
    bad = [*(str(tmp_path / n) for n in hostile), videos["audio_only"], str(empty_folder), no_frames,
           str(tmp_path / "missing.mp4")]
    out = tmp_path / "out"
    code = main(["predict", path, bad[0], good, *bad[1:], "--classes", "cholec80", "--out", str(out), "--no-progress",
                 *FRAME_OPTIONS])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert (out / "video49.json").exists() and "1 predicted, 0 skipped, 7 failed" in captured.out
    listed = captured.err.splitlines()
    assert listed[0] == "surgvlp-fast predict: 7 video(s) failed:"
    for video in bad:
        assert sum(video in line for line in listed[1:]) == 1, video
    assert "a_folder: is a folder holding no video files" in captured.err
    assert not any(name.startswith(".") for name in os.listdir(out))   # no temporary file left


def test_bad_arguments_are_one_line_before_loading(checkpoint, held_out, tmp_path, capsys):
    path = checkpoint[0]
    base = ["predict", path, held_out[49], "--out", str(tmp_path / "o"), "--no-progress"]
    for extra, message in [(["--classes", "nosuch"], "no such class file"), (["--classes", "cholec80", "--fps", "0"],
                           "fps must be"), (["--classes", "cholec80", "--shard", "3/2"], "shard"),
                           (["--classes", "cholec80", "--resize", "big"], "360x640"),
                           (["--classes", "cholec80", "--crop", "999"], "crop 999"),
                           (["--classes", "cholec80", "--smooth", "-1"], "smooth"),
                           (["--classes", "cholec80", "--batch-size", "0"], "batch-size")]:
        assert main([*base, *extra]) == 1, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (extra, err)
    assert not (tmp_path / "o").exists()


def test_predict_needs_a_tokenizer_for_prompts(checkpoint, held_out):
    with pytest.raises(ValueError, match="tokenizer"):
        surgvlp_fast.predict(checkpoint[1], held_out[49], "cholec80")


def test_torchrun_ranks_split_the_videos(checkpoint, held_out, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    out = tmp_path / "out"
    assert main(["predict", checkpoint[0], *held_out.values(), "--classes", "cholec80", "--out", str(out),
                 "--no-progress", "--device", "cpu", *FRAME_OPTIONS]) == 0
    assert sorted(os.listdir(out)) == ["summary-shard0of2.csv", "video49.csv", "video49.json", "video49.png"]


def test_frames_are_read_one_batch_at_a_time(checkpoint, held_out, monkeypatch):
    """Memory is bounded by the batch: no read asks for more than --batch-size frames."""
    from surgvlp_fast.video import reader

    requests = []
    original = reader.VideoReader.frames_at   # every CPU reader's (the native one's too, on the CPU)

    def spy(self, timestamps, *args, **kwargs):
        requests.append(len(timestamps))
        return original(self, timestamps, *args, **kwargs)

    monkeypatch.setattr(reader.VideoReader, "frames_at", spy)
    _, model, tokenizer = checkpoint
    timeline = surgvlp_fast.predict(model, held_out[50], "cholec80", tokenizer=tokenizer, resize=(64, 64), crop=64,
                                    batch_size=6)
    assert len(timeline.labels) == 28 and sorted(requests, reverse=True)[:2] == [6, 6] and sum(requests) == 28


def test_the_command_in_its_own_process(checkpoint, held_out, tmp_path):
    """The console command as a user runs it: progress on stderr, the table on stdout, exit 1 naming the failure."""
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    (tmp_path / "empty.mp4").write_bytes(b"")
    run = subprocess.run([sys.executable, "-m", "surgvlp_fast.cli", "predict", checkpoint[0], held_out[49],
                          str(tmp_path / "empty.mp4"), "--classes", "cholec80", "--out", str(tmp_path / "out"),
                          *FRAME_OPTIONS], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": root}, cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert "1 predicted, 0 skipped, 1 failed" in run.stdout and "Timelines in" in run.stdout
    assert "Traceback" not in run.stderr and f"{tmp_path / 'empty.mp4'}: is empty" in run.stderr
    assert "frame/s" in run.stderr   # the progress bar: frames per second and time left
