"""The video readers on a few hundred mutated files (tools/fuzz_sampler.py at CI size): bit flips,
byte overwrites, truncations, spliced chunks of other containers, and MP4 boxes resized, dropped,
duplicated and swapped, made from H.264 / HEVC MP4, VP9 WebM, H.264 MKV and MPEG-4 AVI seeds.
Each file is decoded in a supervised worker process: no crash, no hang past 10 s, every failure a
VideoError naming the file, and the worker's resident memory flat."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import fuzz_sampler  # noqa: E402


def test_mutated_videos_give_frames_or_a_video_error(tmp_path):
    report = fuzz_sampler.run_mutations(str(tmp_path), count=300, seed=0, timeout=10.0)
    assert not report["findings"], report["findings"][:5]
    counts = report["counts"]
    assert counts.get("ok", 0) + counts.get("error", 0) == 300 and counts.get("error", 0) >= 30, counts
    rss = report["rss_mb"]
    assert rss[-1] - rss[20] < 40, f"resident memory grew from {rss[20]:.0f} to {rss[-1]:.0f} MB"
