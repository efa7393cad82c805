"""The protocol runners against the model contract, with tiny encoders and a real tokenizer."""
import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from eval_fakes import (NUM_CLASSES, PROMPTS, FrameTensorDataset, LinearEncoder, OracleEncoder, class_frames,
                      make_videos)
from surgvlp_fast.evaluation.cholect50 import triplet_map_scores, zero_shot_triplets
from surgvlp_fast.evaluation.downstream import DownstreamVideo
from surgvlp_fast.evaluation.features import encode_frames
from surgvlp_fast.evaluation.linear_probe import FeatureCache, ProbeOptions, linear_probe, select_videos, video_features
from surgvlp_fast.testing import assert_close, rounding_bound
from surgvlp_fast.evaluation.retrieval import Segment, retrieval
from surgvlp_fast.evaluation.zero_shot import zero_shot_phase, zero_shot_phase_windows
from surgvlp_fast.zeroshot import encode_class_prompts

NAMES = [f"phase {c}" for c in range(NUM_CLASSES)]


def test_zero_shot_phase_is_exact_and_drops_no_frame(tokenizer):
    rng = np.random.default_rng(0)
    videos, expected = [], {}
    for i, n in enumerate([23, 41, 7]):
        labels = np.sort(rng.integers(0, NUM_CLASSES, n))
        shown = np.where(rng.random(n) < 0.3, rng.integers(0, NUM_CLASSES, n), labels)  # what the oracle sees
        videos.append(DownstreamVideo(f"v{i}", FrameTensorDataset(class_frames(shown, noise=0.02, seed=i)), labels))
        expected[f"v{i}"] = (labels, shown)
    model = OracleEncoder(tokenizer).train()
    result = zero_shot_phase(model, tokenizer, videos, PROMPTS, NAMES, batch_size=10)
    assert model.training, "the model's mode is restored"
    assert model.frame_calls == 23 + 41 + 7
    for vid, (labels, shown) in expected.items():
        np.testing.assert_array_equal(result.per_video[vid][1], shown)
    metric = rounding_bound(torch.float64, 71, depth=3)   # per-class counts, ratios, the mean over videos
    assert result.metrics["accuracy"] == pytest.approx(100 * np.mean([np.mean(l == s) for l, s in expected.values()]),
                                                       rel=metric)
    assert result.metrics["f1"] == pytest.approx(100 * np.mean([f1_score(l, s, average="macro") for l, s in expected.values()]),
                                                 rel=metric)
    assert result.metrics["frames"] == 71
    assert list(result.per_video) == ["v0", "v1", "v2"]


def test_smoothing_windows_share_one_encoding(tokenizer):
    videos = make_videos([80, 60], seed=2, misread=0.2)
    model = OracleEncoder(tokenizer)
    both = zero_shot_phase_windows(model, tokenizer, videos, PROMPTS, NAMES, windows=(1, 3))
    assert model.frame_calls == 140
    for window in (1, 3):
        alone = zero_shot_phase(OracleEncoder(tokenizer), tokenizer, videos, PROMPTS, NAMES, smooth_window=window)
        assert both[window].metrics == alone.metrics
    assert both[3].metrics["accuracy"] > both[1].metrics["accuracy"]  # misreads are mostly isolated frames


def test_preload_keeps_frames_and_labels():
    from surgvlp_fast.evaluation.features import preload

    (video,) = make_videos([7], seed=1)
    loaded = preload(video)
    assert loaded.video_id == video.video_id and loaded.labels is video.labels
    assert torch.equal(loaded.frames.frames, torch.stack([video.frames[i] for i in range(7)]))


def test_batching_does_not_change_features(tokenizer):
    model = LinearEncoder(tokenizer.vocab_size)
    frames = FrameTensorDataset(torch.rand(29, 3, 6, 6))
    full = encode_frames(model, frames, batch_size=64)
    odd = encode_frames(model, frames, batch_size=4)
    assert full.shape == (29, 8)
    # other batch sizes may take other matmul kernels: a product over 3·6·6 inputs, a normalisation over 8
    assert_close(full, odd, rounding_bound(torch.float32, 3 * 6 * 6, depth=2))
    assert_close(full.norm(dim=1), torch.ones(29), rounding_bound(torch.float32, 8, depth=2))


def test_cholect50_runner_scores_sigmoid_cosine(tokenizer):
    model = LinearEncoder(tokenizer.vocab_size)
    rng = np.random.default_rng(0)
    sizes = {"instrument": 6, "verb": 10, "target": 15, "triplet": 100}
    texts = {key: [f"phase{i % NUM_CLASSES} {key} {i}" for i in range(c)] for key, c in sizes.items()}
    videos = []
    for i, n in enumerate([12, 9]):
        labels = {key: (rng.random((n, c)) < 0.3).astype(int) for key, c in sizes.items()}
        videos.append(DownstreamVideo(f"VID{i}", FrameTensorDataset(torch.rand(n, 3, 6, 6)), labels))
    result = zero_shot_triplets(model, tokenizer, videos, texts, max_length=12, batch_size=5)
    expected_videos = []
    for video in videos:
        frames = encode_frames(model, video.frames)
        entry = {}
        for key in sizes:
            classes = encode_class_prompts(model, tokenizer, texts[key], max_length=12)
            entry[key] = (video.labels[key], torch.sigmoid(frames @ classes.T).numpy())
        expected_videos.append(entry)
    expected = triplet_map_scores(expected_videos)
    for component, value in expected.items():   # the same scores up to rounding: the same ranks, AP sums
        assert result.metrics[component]["mAP"] == pytest.approx(value["mAP"], rel=rounding_bound(torch.float64, 21, depth=3))
    with pytest.raises(ValueError, match="class texts missing"):
        zero_shot_triplets(model, tokenizer, videos, {"instrument": texts["instrument"]})


def test_retrieval_runner(tokenizer):
    oracle = OracleEncoder(tokenizer)
    segments = [Segment(class_frames([c] * 4, noise=0.02), [f"phase{c}", f"in phase{c} the surgeon works"])
                for c in range(NUM_CLASSES)]
    result = retrieval(oracle, tokenizer, {"clip": segments}, max_length=16)
    for direction in ("text_to_video", "video_to_text"):
        assert result["clip"][direction]["R@1"] == 100.0
        assert result["clip"][direction]["median_rank"] == 1.0
    assert result["clip"]["text_to_video"]["queries"] == 2 * NUM_CLASSES
    assert result["clip"]["video_to_text"]["queries"] == NUM_CLASSES
    with pytest.raises(ValueError, match="no segments"):
        retrieval(oracle, tokenizer, {"phase": []})


def test_few_shot_selects_whole_videos():
    ids = [f"v{i}" for i in range(40)]
    chosen = select_videos(ids, 10, seed=3)
    assert len(chosen) == 4 and set(chosen) <= set(ids)
    assert chosen == select_videos(ids, 10, seed=3)
    assert select_videos(ids[:3], 10) and len(select_videos(ids, 100)) == 40
    with pytest.raises(ValueError, match="percent"):
        select_videos(ids, 0)


def test_linear_probe_with_feature_cache(tmp_path, tokenizer):
    model = OracleEncoder(tokenizer)
    train_videos = make_videos([30, 25, 40, 20], seed=0)
    test_videos = make_videos([35, 15], seed=1)
    cache = FeatureCache(tmp_path, "oracle")
    train = video_features(model, train_videos, cache=cache, dataset_key="train", batch_size=16)
    test = video_features(model, test_videos, cache=cache, dataset_key="test")
    calls = model.frame_calls
    assert calls == 30 + 25 + 40 + 20 + 35 + 15
    assert len(list((tmp_path / "oracle").rglob("*.pt"))) == 6
    again = video_features(model, train_videos, cache=cache, dataset_key="train")
    assert model.frame_calls == calls, "cached features are not recomputed"
    assert torch.equal(again["video00"][0], train["video00"][0])
    options = ProbeOptions(lr=1.0, epochs=20, batch_size=64)
    full = linear_probe(train, test, NUM_CLASSES, options=options)
    assert full["accuracy"] > 95.0 and full["train_frames"] == 115
    few = linear_probe(train, test, NUM_CLASSES, percent=25, options=options)
    assert len(few["train_videos"]) == 1
