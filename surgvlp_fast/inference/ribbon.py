"""A timeline as a picture: one coloured ribbon over the video's time, a colour per class, a legend
with each class's total time (the colours of the evaluation's phase ribbons: tab10 / tab20)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .timeline import Timeline


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def plot_timeline(path: str | os.PathLike, timeline: Timeline, title: str | None = None) -> Path:
    """Write the ribbon PNG of `timeline` to `path` (atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    names = timeline.class_names
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    colours = [cmap(i % cmap.N) for i in range(len(names))]
    fig, ax = plt.subplots(figsize=(11, 1.2))
    for s in timeline.segments():
        ax.axvspan(s.start, s.end, color=colours[names.index(s.label)], linewidth=0)
    end = max(timeline.duration, 1e-6)
    ax.set_xlim(0, end)
    ax.set_yticks([])
    ticks = np.linspace(0, end, 7)
    ax.set_xticks(ticks, [_clock(t) for t in ticks])
    ax.set_xlabel("time (h:mm:ss)" if end >= 3600 else "time (m:ss)")
    totals = timeline.time_per_class()
    ax.legend(handles=[Patch(color=colours[i], label=f"{n} ({_clock(totals[n])})") for i, n in enumerate(names)],
              loc="upper center", bbox_to_anchor=(0.5, -0.6), ncol=4, fontsize=7, frameon=False)
    smooth = f", {timeline.smooth:g} s smoothing" if timeline.smooth else ""
    ax.set_title(title or f"{os.path.basename(timeline.video)}: {_clock(timeline.duration)}, "
                          f"{timeline.fps:g} frame/s{smooth}", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path
