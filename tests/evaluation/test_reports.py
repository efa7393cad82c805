import json

import matplotlib.image
import numpy as np

from surgvlp_fast.evaluation.reports import format_table, plot_confusion, plot_phase_ribbons, write_json

NAMES = ["preparation", "dissection", "clipping", "packaging"]


def test_table_aligns_columns():
    table = format_table(["protocol", "accuracy"], [["cholec80", 45.178], ["autolaparo", 26.5]], title="Zero-shot")
    lines = table.splitlines()
    assert lines[0] == "Zero-shot"
    assert len({len(line) for line in lines[1:]}) == 1
    assert "45.2" in table and "26.5" in table


def test_json_is_strict_and_atomic(tmp_path):
    path = write_json(tmp_path / "out" / "results.json",
                      {"mAP": np.float64(0.5), "AP": np.array([0.1, np.nan]), "n": np.int64(3)})
    loaded = json.loads(path.read_text())
    assert loaded == {"mAP": 0.5, "AP": [0.1, None], "n": 3}
    assert not list(path.parent.glob("*.tmp"))


def _read_png(path):
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return image


def test_pictures_are_drawn(tmp_path):
    rng = np.random.default_rng(0)
    per_video = {}
    for v in range(3):
        labels = np.sort(rng.integers(0, 4, 50))
        per_video[f"video{v}"] = (labels, np.where(rng.random(50) < 0.8, labels, 3))
    ribbons = _read_png(plot_phase_ribbons(tmp_path / "ribbons.png", per_video, NAMES, title="t"))
    # more videos give a taller picture; the colours of the phases are in it
    taller = _read_png(plot_phase_ribbons(tmp_path / "r1.png", dict(list(per_video.items())[:1]), NAMES))
    assert ribbons.shape[0] > taller.shape[0]
    assert len(np.unique(ribbons[..., :3].reshape(-1, 3), axis=0)) > 4
    confusion = np.array([[5, 1, 0, 0], [0, 4, 0, 0], [0, 0, 0, 0], [1, 0, 0, 9]])
    _read_png(plot_confusion(tmp_path / "confusion.png", confusion, NAMES, title="c"))
