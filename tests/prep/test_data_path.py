"""The whole path of docs/data.md once: lecture videos with spoken narration -> narration CSVs
(pocketsphinx) -> knowledge augmentation (a chat-completions server on 127.0.0.1) -> splits ->
validate-data -> a few training steps of SurgVLP, HecVL and PeskaVLP on the result -> pseudo-steps
assigned again with the trained text encoder."""
import csv
import glob
import json
import os

import pytest

from chat_server import ChatServer
from narration_audio import cut_world, spoken_lecture
from surgvlp_fast import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEEP = ("vd0001syn", "vd0002syn", "vd0003syn")
SPOKEN_AT = (1.0, 10.0, 18.0)  # seconds; each sentence is the world's narration there, cut to 6 words


def _narration_at(world, video_id, t):
    with open(os.path.join(world, "whisper_narration_texts", f"{video_id}.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    row = min(rows, key=lambda r: abs(float(r["start"]) - t))
    return " ".join(row["text"].split()[:6])


def _tiny_training(root):
    out = [f"data.root={root}", f"model.text.tokenizer={root}/tokenizer", "model.text.path=",
           "model.vision.backbone=tiny_cnn", "model.vision.weights=random", "model.embed_dim=32",
           "model.text.hidden_size=32", "model.text.num_layers=2", "model.text.num_heads=2",
           "model.text.intermediate_size=64", "model.text.max_positions=80", "model.text.last_n_layers=2",
           "data.num_workers=0", "device=cpu", "train.epochs=1", "train.progress_bar=false", "eval.every_epochs=0",
           "schedule.mode=batch", "schedule.batches.clip=1", "schedule.batches.keystep=1", "schedule.batches.video=1",
           "train.max_steps=3"]
    for level, frames, length in (("clip", 4, 24), ("val", 4, 24), ("keystep", 4, 48), ("video", 8, 64)):
        out += [f"data.{level}.size=32", f"data.{level}.num_frames={frames}", f"data.{level}.max_length={length}",
                f"data.{level}.batch_size=2"]
    return out


@pytest.mark.slow
def test_videos_to_training(tiny_world, tmp_path, capsys):
    data = cut_world(tiny_world[0], tmp_path / "data", KEEP)
    # 1. lectures that carry their narration as speech, and no narration CSVs yet
    for video_id in KEEP:
        silent = os.path.join(data, "videos", f"{video_id}.mp4")
        script = [(t, _narration_at(data, video_id, t)) for t in SPOKEN_AT]
        spoken_lecture(os.path.join(tmp_path, f"{video_id}.mp4"), script, video=silent)
        os.replace(os.path.join(tmp_path, f"{video_id}.mp4"), silent)
    for folder in ("aws_narration_texts", "whisper_narration_texts"):
        for name in os.listdir(os.path.join(data, folder)):
            os.remove(os.path.join(data, folder, name))
    for name in os.listdir(os.path.join(data, "splits")):
        os.remove(os.path.join(data, "splits", name))

    # 2. narration CSVs from the audio
    for folder in ("aws_narration_texts", "whisper_narration_texts"):
        assert cli.main(["narrations", "transcribe", os.path.join(data, "videos"), os.path.join(data, folder),
                         "--engine", "pocketsphinx", "--no-progress"]) == 0
    for video_id in KEEP:
        with open(os.path.join(data, "aws_narration_texts", f"{video_id}.csv")) as f:
            assert len(f.read().splitlines()) - 1 == len(SPOKEN_AT)

    # 3. keysteps, abstracts and narrations augmented; 4. splits; 5. the folder is valid
    with ChatServer() as server:
        assert cli.main(["augment-texts", data, "--llm", server.url, "--model", "tiny-llm", "--no-progress"]) == 0
    assert cli.main(["make-splits", data, "--val-fraction", "0.34"]) == 0
    assert cli.main(["validate-data", data, "--deep"]) == 0
    capsys.readouterr()

    # 6. a few training steps of each method on the result
    for method in ("surgvlp", "hecvl", "peskavlp"):
        work_dir = str(tmp_path / method)
        assert cli.main(["train", os.path.join(ROOT, "configs", f"{method}.yaml"), "--work-dir", work_dir,
                         *_tiny_training(data)]) == 0, capsys.readouterr().err
        records = [json.loads(line) for line in open(os.path.join(work_dir, "metrics.jsonl"))]
        losses = [r["loss"] for r in records if r["kind"] == "train"]
        assert losses and all(loss == loss for loss in losses)
        levels = {r["level"] for r in records if r["kind"] == "train"}
        assert levels == ({"clip"} if method == "surgvlp" else {"clip", "keystep", "video"}), levels

    # 7. the pseudo-steps assigned again with the text encoder just trained (answers from the cache)
    checkpoint = sorted(glob.glob(str(tmp_path / "peskavlp" / "checkpoints" / "step*.pt")))[-1]
    assert cli.main(["augment-texts", data, "--llm", server.url, "--model", "tiny-llm", "--tasks", "recipe",
                     "--retries", "0", "--embedder", checkpoint, "--no-progress"]) == 0
    with open(os.path.join(data, "knowledge_base", "pseudo_steps.csv"), newline="") as f:
        steps = {(r["video_id"], r["pseudo_step"]) for r in csv.DictReader(f)}
    for video_id in KEEP:
        with open(os.path.join(data, "aws_narration_texts", f"{video_id}.csv"), newline="") as f:
            assert all((video_id, r["pseudo_step"]) in steps for r in csv.DictReader(f))
    assert cli.main(["validate-data", data]) == 0
