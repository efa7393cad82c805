"""Evaluation metrics of reference.md §6, vectorised with numpy.

- Phase recognition: per-video accuracy and macro-F1 (sklearn's `f1_score(average='macro')`,
  i.e. over the classes present in labels ∪ predictions), then the mean over videos.
- CholecT50: video-wise average precision as the `ivtmetrics` package defines it
  (`Recognition.compute_video_AP`), with the component disentangling of `cholect50.py`.
- Retrieval: recall at k and median rank of the correct candidate.
"""
from __future__ import annotations

import warnings

import numpy as np


# ----------------------------------------------------------------------------- phase recognition
def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = ground truth, columns = prediction."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ in shape")
    for name, values in (("label", labels), ("prediction", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} outside 0..{num_classes - 1}: {values.min()}..{values.max()}")
    flat = labels * num_classes + predictions
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def macro_f1(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """sklearn's macro F1: the mean of per-class F1 over the classes in labels ∪ predictions."""
    cm = confusion_matrix(labels, predictions, num_classes)
    true_positive = np.diag(cm).astype(np.float64)
    support = cm.sum(1) + cm.sum(0)  # 2·TP + FP + FN
    present = support > 0
    if not present.any():
        return 0.0
    return float(np.mean(2.0 * true_positive[present] / support[present]))


def phase_video_metrics(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> dict:
    """Accuracy and macro-F1 of one video (reference.md §6.1)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        raise ValueError("a video without frames cannot be scored")
    return {
        "accuracy": float(np.mean(labels == np.asarray(predictions))),
        "f1": macro_f1(labels, predictions, num_classes),
    }


def phase_metrics(per_video: dict[str, tuple[np.ndarray, np.ndarray]], num_classes: int) -> dict:
    """Video-wise averaged accuracy and macro-F1 (in %), per-video values and the pooled confusion.

    `per_video` maps a video id to `(labels, predictions)`.
    """
    if not per_video:
        raise ValueError("no videos to score")
    videos = {vid: phase_video_metrics(lab, pred, num_classes) for vid, (lab, pred) in per_video.items()}
    cm = sum(confusion_matrix(lab, pred, num_classes) for lab, pred in per_video.values())
    recall = np.diag(cm) / np.maximum(cm.sum(1), 1)
    return {
        "accuracy": 100.0 * float(np.mean([v["accuracy"] for v in videos.values()])),
        "f1": 100.0 * float(np.mean([v["f1"] for v in videos.values()])),
        "frames": int(cm.sum()),
        "videos": {vid: {k: 100.0 * x for k, x in v.items()} for vid, v in videos.items()},
        "recall_per_class": (100.0 * recall).tolist(),
        "confusion": cm.tolist(),
    }


# ----------------------------------------------------------------------------- average precision
def average_precision(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-column average precision of (N, C) binary targets and scores, as sklearn computes it.

    Tied scores form one threshold (every positive in a tie group gets the precision at the
    group's end). A column without positives gives NaN.
    """
    targets = np.asarray(targets, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if targets.shape != scores.shape or targets.ndim != 2:
        raise ValueError(f"targets {targets.shape} and scores {scores.shape} must be the same (N, C)")
    n = targets.shape[0]
    order = np.argsort(-scores, axis=0, kind="stable")
    sorted_scores = np.take_along_axis(scores, order, axis=0)
    sorted_targets = np.take_along_axis(targets, order, axis=0)
    true_positives = np.cumsum(sorted_targets, axis=0)
    # Index of the last row of each row's tie group: the next smaller "group end" at or after it.
    is_end = np.ones_like(sorted_scores, dtype=bool)
    is_end[:-1] = sorted_scores[:-1] != sorted_scores[1:]
    end_index = np.where(is_end, np.arange(n)[:, None], n)
    end_index = np.minimum.accumulate(end_index[::-1], axis=0)[::-1]
    precision_at_end = np.take_along_axis(true_positives, end_index, axis=0) / (end_index + 1)
    positives = true_positives[-1] if n else np.zeros(targets.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sorted_targets * precision_at_end).sum(0) / positives


def video_wise_ap(videos: list[tuple[np.ndarray, np.ndarray]], absent: str = "nan") -> dict:
    """`ivtmetrics.Recognition.compute_video_AP`: AP per class within each video, the NaN-mean over
    videos per class, then the NaN-mean over classes (mAP, in [0, 1]).

    `videos` is a list of `(targets (F, C), scores (F, C))`. `absent` says what a class without
    positives in a video scores: "nan" (skipped; ivtmetrics' definition, and its result with
    scikit-learn ≤ 1.0.2) or "zero" (what ivtmetrics 0.1.5 returns with scikit-learn ≥ 1.1,
    whose `average_precision_score` no longer yields -0.0 there).
    """
    if absent not in ("nan", "zero"):
        raise ValueError(f"absent must be 'nan' or 'zero', not {absent!r}")
    if not videos:
        raise ValueError("no videos to score")
    per_video = np.stack([average_precision(t, s) for t, s in videos])
    if absent == "zero":
        per_video = np.nan_to_num(per_video, nan=0.0)
    with warnings.catch_warnings():  # an all-NaN class stays NaN on purpose
        warnings.simplefilter("ignore", RuntimeWarning)
        per_class = np.nanmean(per_video, axis=0)
        mean = float(np.nanmean(per_class))
    return {"AP": per_class, "mAP": mean}


# ----------------------------------------------------------------------------- retrieval
def retrieval_ranks(similarity: np.ndarray, query_ids=None, candidate_ids=None) -> np.ndarray:
    """1-based rank of the best-scoring correct candidate for each query.

    `similarity` is (Q, C). Without ids, query i matches candidate i (Q == C). With ids, a
    candidate is correct when its id equals the query's. Ties count in the query's favour
    (rank = 1 + number of candidates scoring strictly higher), as MIL-NCE's `compute_metrics`.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    q, c = similarity.shape
    if query_ids is None and candidate_ids is None:
        if q != c:
            raise ValueError(f"without ids the similarity must be square, got {similarity.shape}")
        correct = np.eye(q, dtype=bool)
    else:
        query_ids, candidate_ids = np.asarray(query_ids), np.asarray(candidate_ids)
        if query_ids.shape != (q,) or candidate_ids.shape != (c,):
            raise ValueError(f"ids of shapes {query_ids.shape}, {candidate_ids.shape} for a {q}x{c} similarity")
        correct = query_ids[:, None] == candidate_ids[None, :]
    if not correct.any(1).all():
        missing = np.flatnonzero(~correct.any(1))[:5].tolist()
        raise ValueError(f"queries without a correct candidate: {missing}")
    best_correct = np.where(correct, similarity, -np.inf).max(1)
    return 1 + (similarity > best_correct[:, None]).sum(1)


def retrieval_metrics(similarity: np.ndarray, query_ids=None, candidate_ids=None, ks=(1, 5, 10)) -> dict:
    """R@k (in %) and the median rank."""
    ranks = retrieval_ranks(similarity, query_ids, candidate_ids)
    out = {f"R@{k}": 100.0 * float(np.mean(ranks <= k)) for k in ks}
    out["median_rank"] = float(np.median(ranks))
    out["queries"] = int(ranks.size)
    return out


# ----------------------------------------------------------------------------- the field's table (decisions.md §12)
def macro_f1_all_classes(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """sklearn's `f1_score(labels=range(C), average='macro', zero_division=0)`: every class counts,
    one absent from both labels and predictions scoring 0."""
    cm = confusion_matrix(labels, predictions, num_classes)
    support = (cm.sum(1) + cm.sum(0)).astype(np.float64)
    f1 = np.divide(2.0 * np.diag(cm), support, out=np.zeros(num_classes), where=support > 0)
    return float(f1.mean())


def field_recognition_metrics(per_video: dict[str, tuple[np.ndarray, np.ndarray]], num_classes: int) -> dict:
    """Single-label recognition (phase, step, action) in %, both ways the field reports it:
    `video_*` = per video, then the mean over videos; `pooled_*` = over all frames at once. F1 is
    macro over the classes present in labels ∪ predictions (`f1`, sklearn's default, CAMMA's) or over
    all classes with zero_division=0 (`f1_all`, SurgCLIP's evaluation)."""
    if not per_video:
        raise ValueError("no videos to score")
    out = {}
    for f1_name, f1 in (("f1", macro_f1), ("f1_all", macro_f1_all_classes)):
        out[f"video_{f1_name}"] = 100.0 * float(np.mean([f1(lab, pred, num_classes) for lab, pred in per_video.values()]))
    out["video_accuracy"] = 100.0 * float(np.mean([np.mean(np.asarray(lab) == np.asarray(pred))
                                                    for lab, pred in per_video.values()]))
    labels = np.concatenate([np.asarray(lab) for lab, _ in per_video.values()])
    predictions = np.concatenate([np.asarray(pred) for _, pred in per_video.values()])
    out["pooled_accuracy"] = 100.0 * float(np.mean(labels == predictions))
    out["pooled_f1"] = 100.0 * macro_f1(labels, predictions, num_classes)
    out["pooled_f1_all"] = 100.0 * macro_f1_all_classes(labels, predictions, num_classes)
    out["frames"], out["videos"] = int(labels.size), len(per_video)
    return out


def pooled_map(targets: np.ndarray, scores: np.ndarray) -> dict:
    """Multi-label recognition (tools) in %: per-class average precision over all frames pooled,
    then the NaN-mean over classes (a class without positives is NaN and left out)."""
    ap = average_precision(targets, scores)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = float(np.nanmean(ap)) if ap.size else float("nan")
    return {"mAP": 100.0 * mean, "AP": (100.0 * ap).tolist(), "classes_without_positives": int(np.isnan(ap).sum()),
            "frames": int(np.asarray(targets).shape[0])}
