"""Every protocol in PROTOCOLS through the same loop (run -> scalars / table rows / report), with
fake videos and tiny encoders; and the CholecT50 protocol's custom triplet prompts."""
import json

import numpy as np
import pytest
import torch

from eval_fakes import LinearEncoder, class_frames, make_videos
from surgvlp_fast.evaluation import PROTOCOLS, EvalOptions, evaluate, scalars, summary_table, write_report
from surgvlp_fast.evaluation import protocols as protocols_module
from surgvlp_fast.evaluation.downstream import DownstreamVideo
from surgvlp_fast.evaluation.features import TensorFrames
from surgvlp_fast.evaluation.retrieval import Segment

SIZES = {"instrument": 6, "verb": 10, "target": 15, "triplet": 100}


def triplet_videos(numbers):
    rng, g = np.random.default_rng(0), torch.Generator().manual_seed(0)
    videos = []
    for i in numbers:
        n = 6 + i % 3
        labels = {key: (rng.random((n, c)) < 0.3).astype(int) for key, c in SIZES.items()}
        videos.append(DownstreamVideo(f"VID{i:02d}", TensorFrames(torch.rand(n, 3, 6, 6, generator=g)), labels))
    return videos


@pytest.fixture
def fake_data(monkeypatch):
    """The protocols read fake videos and retrieval segments instead of a data folder."""
    def phase_videos(data_root, dataset, numbers, options):
        videos = make_videos([5 + n % 4 for n in numbers], seed=numbers[0])
        for video, n in zip(videos, numbers):
            video.video_id = f"video{n:02d}"
        return videos

    def retrieval_segments(data_root, split, **kwargs):
        segments = [Segment(class_frames([c] * 3, noise=0.02), [f"in phase{c} the surgeon works"]) for c in range(5)]
        return {"clip": segments, "video": segments[:3]}

    monkeypatch.setattr(protocols_module, "phase_videos", phase_videos)
    monkeypatch.setattr(protocols_module, "cholect50_videos", lambda root, numbers, options: triplet_videos(numbers))
    monkeypatch.setattr(protocols_module, "retrieval_segments", retrieval_segments)


def test_every_protocol_runs_through_one_loop(fake_data, tokenizer, tmp_path):
    model = LinearEncoder(tokenizer.vocab_size)
    options = EvalOptions(max_length=16, batch_size=4, probe_epochs=1, videos="3-4", train_videos="1-2")
    results = {name: evaluate(name, model, tokenizer, "unused", options) for name in PROTOCOLS}
    flat = scalars(results)
    for name, result in results.items():
        own = result.scalars(name)
        assert own and all(key.startswith(f"{name}/") for key in own)
        assert all(np.isfinite(float(v)) for v in own.values())
        rows = result.table_rows(name)
        assert rows and all(len(row) == len(result.table_header) for row in rows)
        assert all(str(row[0]).startswith(name) for row in rows)
        assert set(own) <= set(flat)
    assert {"cholec80/accuracy", "cholect50/mAP_ivt", "cholec80-probe-10/f1",
            "retrieval/clip_text_to_video_R@1"} <= set(flat)
    table = summary_table(results, title="All")
    assert table.count("All") == 1 and "accuracy %" in table and "ivt" in table and "median rank" in table
    for name in PROTOCOLS:
        assert name in table
    written = write_report(results, tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved["results"]) == set(PROTOCOLS)
    assert {"cholec80 ribbons", "autolaparo confusion", "json"} <= set(written)
    assert not any(key.startswith(("cholect50 ", "retrieval ", "cholec80-probe ")) for key in written)


def test_cholect50_honours_a_custom_triplet_prompt_file(fake_data, tokenizer, tmp_path, monkeypatch):
    from surgvlp_fast import resources
    from surgvlp_fast.evaluation import cholect50

    prompts = tmp_path / "triplets.txt"
    prompts.write_text("".join(f"{i}:phase{i % 5},grasper_{i}\n" for i in range(100)))
    seen = []
    encode = cholect50.encode_class_prompts

    def spy(model, tokenizer, texts, **kwargs):
        seen.append(list(texts))
        return encode(model, tokenizer, texts, **kwargs)

    monkeypatch.setattr(cholect50, "encode_class_prompts", spy)
    model = LinearEncoder(tokenizer.vocab_size)
    default = evaluate("cholect50", model, tokenizer, "unused", EvalOptions(videos="6-7", max_length=12))
    default_triplets = [t for t in seen if len(t) == 100]
    assert default_triplets == [resources.read_triplet_prompts()]
    seen.clear()
    options = EvalOptions.from_mapping({"videos": "6-7", "max_length": 12, "cholect50.prompts": str(prompts)},
                                       "cholect50")
    custom = evaluate("cholect50", model, tokenizer, "unused", options)
    custom_triplets = [t for t in seen if len(t) == 100]
    assert custom_triplets == [[f"phase{i % 5} grasper {i}" for i in range(100)]]
    assert custom.metrics["i"] == default.metrics["i"]  # only the triplet classifier's texts changed
    assert custom.metrics["ivt"]["AP"] != default.metrics["ivt"]["AP"]
    prompts.write_text("0:too few\n")
    with pytest.raises(ValueError, match="1 triplet prompts, expected 100"):
        evaluate("cholect50", model, tokenizer, "unused", options)
