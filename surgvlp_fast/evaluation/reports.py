"""Results for people: a table on the terminal, a JSON file, and PNG pictures
(per-video phase ribbons, ground truth vs prediction; a confusion matrix)."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np


def format_table(headers: Sequence[str], rows: Sequence[Sequence], title: str | None = None) -> str:
    """A plain aligned table; floats with one decimal."""
    cells = [[f"{c:.1f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(headers)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def fmt(row):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) + " |"

    out = ([title] if title else []) + [line, fmt([str(h) for h in headers]), line, *map(fmt, cells), line]
    return "\n".join(out)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    return value


def write_json(path: str | os.PathLike, results: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_jsonable(results), indent=2) + "\n")
    os.replace(tmp, path)
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def phase_colours(num_classes: int):
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if num_classes <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(num_classes)]


def plot_phase_ribbons(path: str | os.PathLike, per_video: dict[str, tuple[np.ndarray, np.ndarray]],
                       class_names: Sequence[str], title: str = "", max_videos: int = 8) -> Path:
    """One panel per video (the first `max_videos`): a ground-truth ribbon above a prediction
    ribbon over time (1 frame per second), one colour per phase, with the video's accuracy."""
    plt = _pyplot()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    videos = list(per_video.items())[:max_videos]
    colours = phase_colours(len(class_names))
    cmap = ListedColormap(colours)
    legend_rows = math.ceil(len(class_names) / 4)
    height = 0.95 * len(videos) + 0.9 + 0.25 * legend_rows
    fig, axes = plt.subplots(len(videos), 1, figsize=(11, height), squeeze=False)
    for ax, (video_id, (labels, predictions)) in zip(axes[:, 0], videos):
        image = np.stack([labels, predictions])
        ax.imshow(image, aspect="auto", interpolation="nearest", cmap=cmap, vmin=-0.5, vmax=len(class_names) - 0.5,
                  extent=(0, len(labels), 1.5, -0.5))
        ax.axhline(0.5, color="white", linewidth=1.5)
        ax.set_yticks([0, 1], ["truth", "prediction"], fontsize=8)
        accuracy = 100.0 * float(np.mean(labels == predictions))
        ax.set_title(f"{video_id}  (accuracy {accuracy:.1f}%)", fontsize=9, loc="left", pad=2)
        ax.tick_params(axis="x", labelsize=7)
    axes[-1, 0].set_xlabel("time (s at 1 fps)", fontsize=8)
    handles = [Patch(color=c, label=f"{i + 1} {n}") for i, (c, n) in enumerate(zip(colours, class_names))]
    fig.legend(handles=handles, loc="lower center", ncol=min(4, len(class_names)), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, (0.15 + 0.25 * legend_rows) / height, 1, 1))
    return _save(fig, path)


def plot_confusion(path: str | os.PathLike, confusion: np.ndarray, class_names: Sequence[str], title: str = "") -> Path:
    """Row-normalised confusion matrix (recall per true phase), counts in each cell."""
    plt = _pyplot()
    confusion = np.asarray(confusion)
    rates = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    size = 2.5 + 0.75 * len(class_names)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    labels = [f"{i + 1} {n}" for i, n in enumerate(class_names)]
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            ax.text(j, i, f"{100 * rates[i, j]:.0f}%\n{count}", ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted phase")
    ax.set_ylabel("true phase")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true phase's frames")
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path) -> Path:
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
