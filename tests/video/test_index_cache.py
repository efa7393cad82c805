"""A cached frame index (sidecar or cache folder) that is cut short, of an older layout, inconsistent
or carrying a pickle is rescanned and rewritten, never an error."""
import io
import os
import shutil

import numpy as np
import pytest

from surgvlp_fast.video import index as index_module


def arrays_of(index, **changes):
    arrays = index.to_arrays()
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


def npz_bytes(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("where", ["sidecar", "cache"])
def test_a_damaged_or_outdated_index_is_rebuilt(videos, tmp_path, monkeypatch, where):
    path = str(tmp_path / "lecture.mp4")
    shutil.copy(videos["h264_short_gop"], path)
    monkeypatch.setenv("SURGVLP_FAST_VIDEO_INDEX_DIR", str(tmp_path / "cache"))
    good = index_module.load_index(path, use_cache=False)
    n = len(good.pts)
    damaged = {
        "cut short": npz_bytes(good.to_arrays())[:300],
        "older layout (no version)": npz_bytes(arrays_of(good, version=None)),
        "older layout (version 0)": npz_bytes(arrays_of(good, version=np.int64(0))),
        "missing field": npz_bytes(arrays_of(good, rotation=None)),
        "no frames": npz_bytes(arrays_of(good, pts=np.zeros(0, np.int64), keyframe=np.zeros(0, bool))),
        "lengths differ": npz_bytes(arrays_of(good, keyframe=good.keyframe[: n // 2])),
        "unsorted": npz_bytes(arrays_of(good, pts=good.pts[::-1].copy())),
        "zero time base": npz_bytes(arrays_of(good, time_base=np.asarray([0, 1], np.int64))),
        "pickled object": npz_bytes(arrays_of(good, codec=np.asarray([{"x": 1}], dtype=object))),
    }
    target = index_module.sidecar_path(path) if where == "sidecar" else index_module._cache_path(path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    for name, data in damaged.items():
        for stale in (index_module.sidecar_path(path), index_module._cache_path(path)):
            if os.path.exists(stale):
                os.remove(stale)
        with open(target, "wb") as f:
            f.write(data)
        index = index_module.load_index(path)
        np.testing.assert_array_equal(index.pts, good.pts, err_msg=name)
        np.testing.assert_array_equal(index.keyframe, good.keyframe, err_msg=name)
        assert index.metadata == good.metadata, name
        # the rebuilt entry is in the cache folder and is read back without a rescan
        monkeypatch.setattr(index_module, "scan", lambda p: pytest.fail(f"{name}: the rebuilt cache was not used"))
        if where == "cache":
            np.testing.assert_array_equal(index_module.load_index(path).pts, good.pts)
        monkeypatch.undo()
        monkeypatch.setenv("SURGVLP_FAST_VIDEO_INDEX_DIR", str(tmp_path / "cache"))
