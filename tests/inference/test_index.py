"""`surgvlp-fast index` / `search` and `surgvlp_fast.Index`: appending without re-embedding, the model's
fingerprint, exact top-k, merged moments, a model that can tell the phases apart, and hostile inputs."""
import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import surgvlp_fast
from inference_helpers import FRAME_OPTIONS, h264_from_frames
from surgvlp_fast.cli import main
from surgvlp_fast.inference.embed import FrameSettings
from surgvlp_fast.inference.moments import exact_top, merge_hits
from surgvlp_fast.models.preprocess import official_frames
from surgvlp_fast.resources import class_prompts, phase_names
from surgvlp_fast.video import open_video
from PIL import Image

SETTINGS = FrameSettings(resize=(64, 64), crop=64)


@pytest.fixture(scope="module")
def library(held_out, tmp_path_factory):
    folder = tmp_path_factory.mktemp("library")
    for video in held_out.values():
        os.symlink(video, folder / os.path.basename(video))
    return folder


def test_index_appends_new_videos_only_and_search_answers(checkpoint, library, world, tiny_world, tmp_path, capsys):
    path, model, _ = checkpoint
    index_dir = tmp_path / "lib.index"
    assert main(["index", path, str(library), "--out", str(index_dir), "--no-progress", *FRAME_OPTIONS]) == 0
    index = surgvlp_fast.Index(index_dir)
    assert index.rows == 25 + 28 and [v["name"] for v in index.videos] == ["video49.mp4", "video50.mp4"]
    # each second embedded once, as the model embeds that frame (stored in float16)
    with open_video(library / "video50.mp4") as reader:
        frames = official_frames(reader.frames_at(np.arange(28.0)), (64, 64), 64)
    with torch.no_grad():
        expected = F.normalize(model.encode_frames(frames), dim=-1).half()
    assert torch.equal(torch.from_numpy(np.array(index.column("embeddings")[25:])), expected)
    assert index.column("times")[25:].tolist() == list(range(28)) and set(index.column("videos")[25:]) == {1}
    before = (index_dir / "embeddings.f16").read_bytes()
    # a new video is appended; the indexed ones are not embedded again (the frame settings are the index's)
    h264_from_frames(f"{world}/downstream_datasets/cholec80/frames/video01_%d.png", str(library / "video01.mp4"), 26)
    capsys.readouterr()
    assert main(["index", path, str(library), "--out", str(index_dir), "--no-progress"]) == 0
    assert "1 videos added, 2 already indexed" in capsys.readouterr().out
    index = surgvlp_fast.Index(index_dir)
    assert index.rows == 79 and (index_dir / "embeddings.f16").read_bytes()[:len(before)] == before
    # search: JSON moments, best first, inside their videos; a contact sheet
    sheet = tmp_path / "hits.png"
    assert main(["search", str(index_dir), "the clipper clips the duct", "--top", "4", "--json",
                 "--thumbnails", str(sheet)]) == 0
    out = capsys.readouterr().out
    moments = json.loads(out[:out.rindex("]") + 1])
    assert len(moments) == 4 and [m["score"] for m in moments] == sorted((m["score"] for m in moments), reverse=True)
    durations = {v["path"]: v["duration"] for v in index.videos}
    assert all(0 <= m["start"] <= m["best"] < m["end"] <= durations[m["video"]] for m in moments)
    assert sheet.stat().st_size > 10_000
    assert main(["search", str(index_dir), "clipper", "--top", "2"]) == 0
    assert "search: clipper" in capsys.readouterr().out


def test_an_open_index_searches_the_rows_it_appends(checkpoint, library, tmp_path):
    """The memory maps are kept between queries; appending videos re-maps them."""
    _, model, _ = checkpoint
    index = surgvlp_fast.Index.create(tmp_path / "open.index", model, SETTINGS)
    index.add(model, [str(library / "video49.mp4")], echo=lambda line: None)
    first = index.column("embeddings")
    assert index.column("embeddings") is first and len(first) == index.rows == 25
    index.search_embedding(torch.from_numpy(np.array(first[3], dtype=np.float32)), top=1)
    index.add(model, [str(library / "video50.mp4")], echo=lambda line: None)
    assert len(index.column("embeddings")) == len(index.column("times")) == index.rows == 53
    query = torch.from_numpy(np.array(index.column("embeddings")[40], dtype=np.float32))
    best = index.search_embedding(query, top=1)[0]
    assert best.video.endswith("video50.mp4") and best.score > 0.99   # its own row (or a frame just like it)


def test_another_model_is_refused_in_one_line(checkpoint, library, tmp_path, capsys):
    path, model, tokenizer = checkpoint
    index = surgvlp_fast.Index.create(tmp_path / "i", model, SETTINGS, checkpoint=path)
    index.add(model, [str(library / "video49.mp4")], echo=lambda line: None)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    (other_dir / "config.yaml").write_text(open(os.path.join(os.path.dirname(path), "config.yaml")).read())
    state = {k: v.clone() for k, v in model.state_dict().items()}
    first_float = next(k for k, v in state.items() if v.is_floating_point())
    state[first_float] += 1e-3   # one weight nudged: another model
    torch.save({"model": state}, other_dir / "last.pt")
    assert main(["search", str(tmp_path / "i"), "clipper", "--checkpoint", str(other_dir / "last.pt")]) == 1
    err = capsys.readouterr().err
    assert "built with another model" in err and err.count("\n") == 1 and "Traceback" not in err
    assert main(["index", str(other_dir / "last.pt"), str(library), "--out", str(tmp_path / "i")]) == 1
    assert "built with another model" in capsys.readouterr().err
    assert main(["search", str(tmp_path / "i"), "clipper", "--top", "1"]) == 0   # the recorded checkpoint


def test_exact_top_k_against_float64_with_near_ties():
    g = torch.Generator().manual_seed(0)
    rows = F.normalize(torch.randn(5000, 64, generator=g), dim=1).half()
    query = F.normalize(torch.randn(64, generator=g), dim=0)
    rows[100:140] = rows[7]                        # exact ties: lower row first
    rows[200, 0] = (rows[7, 0].float() + 2 ** -13).half()   # differs from them below float16 output precision
    stored = rows.numpy()
    truth = stored.astype(np.float64) @ query.double().numpy()
    for k in (1, 10, 57, 5000):
        found, scores = exact_top(stored, query, k)
        expected = np.lexsort((np.arange(5000), -truth))[:k]
        np.testing.assert_array_equal(found, expected)
        np.testing.assert_array_equal(scores, truth[expected])
    assert len(exact_top(stored, query, 0)[0]) == 0


def test_adjacent_hit_seconds_merge_into_moments():
    video_of = np.array([0, 0, 0, 0, 1, 1, 1])
    time_of = np.array([0, 1, 2, 3, 0, 1, 2], dtype=np.float32)
    hits, scores = np.array([1, 2, 5, 4, 3, 6]), np.array([0.9, 0.5, 0.7, 0.8, 0.4, 0.1])
    moments = merge_hits(hits, scores, video_of, time_of, 1.0, ["a", "b"], [4.0, 2.5])
    assert [(m.video, m.start, m.end, m.score, m.best) for m in moments] == [
        ("a", 1.0, 4.0, 0.9, 1.0), ("b", 0.0, 2.5, 0.8, 0.0)]


class ColourOracle(torch.nn.Module):
    """A model that can tell the synthetic phases apart: frames -> softmax over the phases of minus the
    distance of their colour layout to the closest remembered frame of each phase; texts -> the phase
    whose prompt they are. Stands in for a trained checkpoint in the ranking test."""

    def __init__(self, layouts, labels, tokenizer, prompts):
        super().__init__()
        self.register_buffer("layouts", layouts)
        self.labels = torch.as_tensor(labels)
        self.tokenizer, self.prompts = tokenizer, prompts

    @staticmethod
    def layout(frames):
        return F.adaptive_avg_pool2d(frames, 8).flatten(1)

    def encode_frames(self, frames):
        distances = torch.cdist(self.layout(frames), self.layouts)
        closest = torch.stack([distances[:, self.labels == c].min(1).values for c in range(len(self.prompts))], 1)
        return torch.softmax(-closest, dim=1)

    def encode_text(self, tokens):
        texts = self.tokenizer.batch_decode(tokens["input_ids"], skip_special_tokens=True)
        return torch.stack([F.one_hot(torch.tensor(self.closest(t)), len(self.prompts)).float() for t in texts])

    def closest(self, text):
        words = set(text.split())
        return max(range(len(self.prompts)), key=lambda c: len(words & set(self.prompts[c].lower().split())))


def test_a_phase_prompt_finds_seconds_of_that_phase_first(checkpoint, library, world, tiny_world, tmp_path):
    """The oracle is fitted on the indexed videos' own PNG frames and labels: what is tested is that the index
    (rows <-> video and time, float16 storage, exact top-k, merging) returns what the model scores highest."""
    tokenizer = checkpoint[2]
    info = {d["video"]: d for d in tiny_world[1]["downstream"] if d["dataset"] == "cholec80"}
    truth = np.concatenate([np.searchsorted(info[n]["phase_bounds"], np.arange(info[n]["duration"]), side="right") - 1
                            for n in (49, 50)])
    pngs = torch.stack([torch.from_numpy(np.array(Image.open(
        f"{world}/downstream_datasets/cholec80/frames/video{n}_{k + 1}.png").convert("RGB"))).permute(2, 0, 1)
        for n in (49, 50) for k in range(info[n]["duration"])])
    layout = ColourOracle.layout(official_frames(pngs, (64, 64), 64))
    oracle = ColourOracle(layout, truth, tokenizer, [p.lower() for p in class_prompts("cholec80")])
    index = surgvlp_fast.Index.create(tmp_path / "oracle", oracle, SETTINGS)
    tests = [str(library / "video49.mp4"), str(library / "video50.mp4")]
    assert index.add(oracle, tests, echo=lambda line: None)["added"] == tests
    precisions = []
    for phase, prompt in enumerate(class_prompts("cholec80")):
        query = index.query_embedding(oracle, tokenizer, prompt)
        assert int(query.argmax()) == phase   # the text side knows its phase
        k = min(10, int((truth == phase).sum()))
        rows, _ = exact_top(index.column("embeddings"), query, k)
        precisions.append(float((truth[rows] == phase).mean()))
        best = index.search(oracle, tokenizer, prompt, top=1)[0]
        offset = 0 if best.video.endswith("video49.mp4") else info[49]["duration"]
        assert truth[offset + int(best.best)] == phase, phase_names("cholec80")[phase]
    assert np.mean(precisions) >= 0.8, precisions


def test_hostile_inputs(checkpoint, library, held_out, videos, tmp_path, capsys):
    path, model, _ = checkpoint
    data = open(held_out[49], "rb").read()
    (tmp_path / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "zero.mp4").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a video\n")
    (tmp_path / "sub").mkdir()
    bad = [str(tmp_path / "truncated.mp4"), str(tmp_path / "zero.mp4"), str(tmp_path / "notes.txt"),
           videos["audio_only"], str(tmp_path / "sub")]
    out = tmp_path / "idx"
    assert main(["index", path, *bad, held_out[50], "--out", str(out), "--no-progress", *FRAME_OPTIONS]) == 1
    captured = capsys.readouterr()
    assert "1 videos added" in captured.out and "5 video(s) failed" in captured.err and "Traceback" not in captured.err
    assert all(sum(b in line for line in captured.err.splitlines()) == 1 for b in bad)
    # a killed append leaves rows past index.json's count: the next append drops them
    with open(out / "embeddings.f16", "ab") as f:
        f.write(b"\x00" * 1000)
    index = surgvlp_fast.Index(out)
    index.add(model, [held_out[49]], echo=lambda line: None)
    assert (out / "embeddings.f16").stat().st_size == index.rows * 128 * 2 and index.rows == 28 + 25
    for argv, message in [(["search", str(tmp_path / "sub"), "x"], "not an index"),
                          (["search", str(out), "x", "--top", "0"], "--top must be"),
                          (["search", str(out), "  "], "empty"),
                          (["index", path, str(library), "--out", str(tmp_path / "notes.txt")], "not an index"),
                          (["index", path, str(library), "--out", str(out), "--fps", "2"], "built with fps 1.0")]:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (argv, err)
    (out / "index.json").write_text("{")
    assert main(["search", str(out), "x"]) == 1
    assert "unreadable index" in capsys.readouterr().err


def test_contact_sheet_survives_a_video_gone_since_indexing(held_out, tmp_path):
    from PIL import Image

    from surgvlp_fast.inference.moments import Moment
    from surgvlp_fast.inference.sheet import TILE, contact_sheet

    moments = [Moment(held_out[49], 3.0, 6.0, 0.5, 4.0), Moment(str(tmp_path / "gone.mp4"), 0.0, 1.0, 0.4, 0.0)]
    path = contact_sheet(tmp_path / "sheet.png", moments, "a query", columns=2)
    with Image.open(path) as sheet:
        pixels = np.asarray(sheet.convert("RGB"))
    assert pixels.shape[1] == 2 * TILE[1]
    tile = pixels[22:22 + TILE[0], TILE[1]:]   # the second tile: grey where the video cannot be read
    assert (tile == 160).all(axis=2).mean() > 0.9
    first = pixels[22:22 + TILE[0], :TILE[1]]
    assert first.std() > 10   # a frame, not a blank
