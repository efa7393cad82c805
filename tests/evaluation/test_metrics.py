"""The metrics against scikit-learn and the ivtmetrics package on random inputs."""
import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, f1_score

from surgvlp_fast.evaluation.cholect50 import COMPONENTS, disentangle, triplet_map, triplet_map_scores
from surgvlp_fast.evaluation.metrics import (average_precision, confusion_matrix, macro_f1, phase_metrics,
                                             retrieval_metrics, retrieval_ranks, video_wise_ap)
from surgvlp_fast.testing import rounding_bound

ivtmetrics = pytest.importorskip("ivtmetrics")


# ----------------------------------------------------------------------------- phase recognition
@pytest.mark.parametrize("seed", range(6))
def test_macro_f1_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 90))
    labels = rng.integers(0, 7, n)
    # some classes absent from the labels, some predicted but absent: both count as sklearn does
    predictions = np.where(rng.random(n) < 0.6, labels, rng.integers(0, 7, n))
    if seed % 2:
        labels = np.minimum(labels, 3)
    expected = f1_score(labels, predictions, average="macro")
    # two formulas over per-class counts of n items: the sums, the ratios, the mean over classes
    assert macro_f1(labels, predictions, 7) == pytest.approx(expected, abs=rounding_bound(torch.float64, n, depth=3))


def test_phase_metrics_average_over_videos():
    rng = np.random.default_rng(1)
    per_video = {}
    for v in range(5):
        labels = np.sort(rng.integers(0, 7, int(rng.integers(20, 60))))
        per_video[f"video{v}"] = (labels, np.where(rng.random(labels.size) < 0.7, labels, rng.integers(0, 7, labels.size)))
    result = phase_metrics(per_video, 7)
    accuracies = [np.mean(l == p) for l, p in per_video.values()]
    f1s = [f1_score(l, p, average="macro") for l, p in per_video.values()]
    metric = 100 * rounding_bound(torch.float64, 60, depth=4)   # per video as above, then the mean over videos
    assert result["accuracy"] == pytest.approx(100 * np.mean(accuracies), abs=metric)
    assert result["f1"] == pytest.approx(100 * np.mean(f1s), abs=metric)
    assert result["frames"] == sum(l.size for l, _ in per_video.values())
    assert np.array_equal(np.array(result["confusion"]).sum(), result["frames"])


def test_confusion_rejects_bad_labels():
    with pytest.raises(ValueError, match="label outside 0..6"):
        confusion_matrix(np.array([0, 7]), np.array([0, 1]), 7)
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 7)


# ----------------------------------------------------------------------------- average precision
@pytest.mark.parametrize("seed", range(4))
def test_average_precision_matches_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    targets = (rng.random((80, 9)) < 0.3).astype(int)
    targets[0] = 1  # every column has a positive
    scores = np.round(rng.random((80, 9)), 1)  # many ties
    expected = average_precision_score(targets, scores, average=None)
    # precisions at each of the 80 ranks, summed: two orders of the same terms
    np.testing.assert_allclose(average_precision(targets, scores), expected, atol=rounding_bound(torch.float64, 80, depth=2))


def test_average_precision_without_positives_is_nan():
    ap = average_precision(np.array([[0, 1], [0, 0]]), np.array([[0.2, 0.3], [0.1, 0.9]]))
    assert np.isnan(ap[0]) and ap[1] == 0.5   # 1/2: exact in binary


def test_triplet_map_is_ivtmetrics_bank():
    assert np.array_equal(triplet_map(), ivtmetrics.Recognition(100).bank)


@pytest.mark.parametrize("component", ["i", "v", "t", "iv", "it"])
def test_disentangle_matches_ivtmetrics(component):
    rng = np.random.default_rng(3)
    scores = rng.random((30, 100))
    labels = (rng.random((30, 100)) < 0.05).astype(int)
    reference = ivtmetrics.Recognition(100)
    np.testing.assert_array_equal(disentangle(scores, component), reference.extract(scores, component))
    np.testing.assert_array_equal(disentangle(labels, component), reference.extract(labels, component))


# AP over at most 34 frames per video, means over at most 100 classes and 3 videos, in percent
MAP_BOUND = 100 * rounding_bound(torch.float64, 100, depth=4)


def _random_cholect50(seed, videos=3, rich=False):
    """Per-video labels and scores of the four classifiers; sparse labels leave classes absent
    from some videos (`rich` makes every class present in every video)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(videos):
        n = int(rng.integers(15, 35))
        video = {}
        for key, c in (("instrument", 6), ("verb", 10), ("target", 15), ("triplet", 100)):
            labels = (rng.random((n, c)) < (0.5 if rich else 0.06)).astype(int)
            if rich:
                labels[0], labels[1] = 1, 0
            video[key] = (labels, rng.random((n, c)))
        out.append(video)
    return out


def _ivtmetrics_scores(videos):
    separate = {key: ivtmetrics.Recognition(c) for key, c in (("instrument", 6), ("verb", 10), ("target", 15))}
    triplet = ivtmetrics.Recognition(100)
    for video in videos:
        for key, metric in separate.items():
            metric.update(*video[key])
            metric.video_end()
        triplet.update(*video["triplet"])
        triplet.video_end()
    out = {c: separate[k].compute_video_AP()["mAP"] for c, k in (("i", "instrument"), ("v", "verb"), ("t", "target"))}
    out.update({c: triplet.compute_video_AP(c)["mAP"] for c in ("iv", "it", "ivt")})
    return out


def _old_sklearn_ap(targets, scores, average=None):
    """average_precision_score as scikit-learn ≤ 1.0.2 returned it: NaN without positives."""
    ap = np.asarray(average_precision_score(targets, scores, average=None), dtype=float)
    ap[np.asarray(targets).sum(0) == 0] = np.nan
    return ap


@pytest.mark.parametrize("seed", range(2))
def test_video_map_absent_zero_matches_installed_ivtmetrics(seed):
    videos = _random_cholect50(seed)
    ours = triplet_map_scores(videos, absent="zero")
    expected = _ivtmetrics_scores(videos)
    for component in COMPONENTS:
        assert ours[component]["mAP"] == pytest.approx(100 * expected[component], abs=MAP_BOUND), component


@pytest.mark.parametrize("seed", range(2))
def test_video_map_absent_nan_matches_ivtmetrics_definition(seed, monkeypatch):
    monkeypatch.setattr(ivtmetrics.recognition, "average_precision_score", _old_sklearn_ap)
    videos = _random_cholect50(seed)
    ours = triplet_map_scores(videos, absent="nan")
    expected = _ivtmetrics_scores(videos)
    for component in COMPONENTS:
        assert ours[component]["mAP"] == pytest.approx(100 * expected[component], abs=MAP_BOUND), component
    # the two conventions differ when classes are absent from videos
    assert triplet_map_scores(videos, absent="zero")["ivt"]["mAP"] < ours["ivt"]["mAP"]


def test_video_map_conventions_agree_when_every_class_is_present():
    videos = _random_cholect50(7, rich=True)
    expected = _ivtmetrics_scores(videos)
    for absent in ("nan", "zero"):
        ours = triplet_map_scores(videos, absent=absent)
        for component in COMPONENTS:
            assert ours[component]["mAP"] == pytest.approx(100 * expected[component], abs=MAP_BOUND)


def test_video_wise_ap_rejects_bad_option():
    with pytest.raises(ValueError, match="absent"):
        video_wise_ap([(np.ones((2, 2)), np.ones((2, 2)))], absent="skip")


# ----------------------------------------------------------------------------- retrieval
def _reference_ranks(similarity):
    """Rank of the diagonal entry by a direct sort (ties broken in the query's favour)."""
    ranks = []
    for i, row in enumerate(similarity):
        order = np.argsort(-row, kind="stable")
        sorted_row = row[order]
        ranks.append(int(np.flatnonzero(sorted_row == row[i])[0]) + 1)
    return np.array(ranks)


@pytest.mark.parametrize("seed", range(3))
def test_retrieval_ranks_against_sorting(seed):
    rng = np.random.default_rng(seed)
    similarity = np.round(rng.standard_normal((37, 37)), 1) + 3 * np.eye(37) * (seed == 0)
    ranks = retrieval_ranks(similarity)
    np.testing.assert_array_equal(ranks, _reference_ranks(similarity))
    metrics = retrieval_metrics(similarity)
    for k in (1, 5, 10):
        assert metrics[f"R@{k}"] == 100 * np.mean(ranks <= k)   # the same ranks, the same formula
    assert metrics["median_rank"] == np.median(ranks)


def test_retrieval_with_several_correct_candidates():
    # query 0 matches candidates 0 and 2, its best correct one (2) is second; query 1 matches 1
    similarity = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]])
    ranks = retrieval_ranks(similarity, np.array([7, 8]), np.array([7, 8, 7]))
    assert ranks.tolist() == [2, 2]
    with pytest.raises(ValueError, match="without a correct candidate"):
        retrieval_ranks(similarity, np.array([7, 5]), np.array([7, 9, 7]))
