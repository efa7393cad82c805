"""Clip sampling on a GPU: the native sampler with NVDEC vs torchcodec's CUDA decoder vs the native CPU sampler.

The PeskaVLP clip recipe (pretrain.recipes.clip_frames: a 3-5 s window at 2 fps, 4 frames kept, a
random full-height square crop resized to 336, a random flip) on the same clip requests, on 1080p
and 720p 25 fps H.264 testsrc2 videos made with the ffmpeg CLI at run time (a keyframe every 250
frames):
  - native cpu 1t / 4t   open_video(backend="native", threads=1 / 4): the CPU reference;
  - native nvdec         open_video(backend="native", device="cuda"): NVDEC + the crop/resize kernel;
  - torchcodec cuda      torchcodec.decoders.VideoDecoder(device="cuda"), our frame numbers, then the
                         crop and the antialiased bilinear resize on the GPU (in float, rounded).
Per implementation: clips/s and kept frames/s (median over repeats, CUDA synchronised), decoded
frames/s where the decoder counts them (native), and the max / mean absolute difference of its
frames from the CPU reference's. A GPU path that fell back to the CPU is reported with its status
and makes the script exit 1.

    python benchmarks/bench_gpu_sampler.py [--clips 16] [--repeats 2] [--json OUT]
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_sampler import SIZE, make_video, run_recipe, timed, windows  # noqa: E402
from harness import (Metric, bench_parser, cuda_device, finish, markdown_table, measurement_rows,  # noqa: E402
                     print_json_line)
from surgvlp_fast.video import open_video  # noqa: E402
from surgvlp_fast.video.index import load_index  # noqa: E402
from surgvlp_fast.video.pipeline import arrange, check_request  # noqa: E402
from surgvlp_fast.video.torchcodec_backend import TorchCodecReader  # noqa: E402

VIDEOS = {"1080p": "1920x1080", "720p": "1280x720"}
SECONDS, GOP = 40, 250
REFERENCE = "native cpu 1t"
METRICS = [Metric("clips_per_s", "clips_per_s", "clips/s", ".2f"),
           Metric("frames_per_s", "frames_per_s", "frames/s", ".1f"),
           Metric("decoded_per_s", "decoded_per_s", "frames/s", ".1f"),   # where the decoder counts them
           Metric("max_abs_diff", f"max_abs_diff vs {REFERENCE}", "levels", "d")]   # all but the reference


class TorchCodecCudaReader(TorchCodecReader):
    """torchcodec's CUDA decoder behind the reader API: our frame numbers, frames decoded on the GPU,
    then crop and antialiased bilinear resize there (float, rounded: torch has no uint8 CUDA kernel)."""

    def _open(self):
        from torchcodec.decoders import VideoDecoder

        return VideoDecoder(self.path, stream_index=self._index.stream_index, seek_mode="exact",
                            device=str(self.device))

    def frames_at(self, timestamps, *, crop=None, size=None, flip=False, layout="TCHW") -> torch.Tensor:
        crop, size = check_request(self.metadata, crop, size, layout)
        unique, inverse = np.unique(self.frame_numbers(timestamps), return_inverse=True)
        frames = self._decode_numbers(unique).permute(0, 3, 1, 2)          # (N, 3, H, W) on the GPU
        if crop is not None:
            x, y, w, h = crop
            frames = frames[:, :, y:y + h, x:x + w]
        if size is not None:
            frames = F.interpolate(frames.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
            frames = frames.round_().clamp_(0, 255).to(torch.uint8)
        order = torch.from_numpy(inverse.reshape(-1).astype(np.int64)).to(frames.device)
        return arrange(frames.index_select(0, order).permute(0, 2, 3, 1), flip, layout)

    @property
    def gpu_status(self) -> str:
        fallback = self._current_handle().cpu_fallback
        return f"cpu fallback: {fallback}" if fallback else "torchcodec nvdec"


def open_reader(name, path):
    if name.startswith("native cpu"):
        return open_video(path, backend="native", threads=int(name.split()[-1][:-1]))
    if name == "native nvdec":
        return open_video(path, backend="native", device="cuda")
    if name == "torchcodec cuda":
        return TorchCodecCudaReader(path, load_index(path), device="cuda")
    raise ValueError(f"unknown implementation {name!r}")


def measure(name, path, requests, repeats):
    """{"clips_per_s", "frames_per_s", "decoded_per_s"?, "status", "clips"} for one implementation."""
    reader = open_reader(name, path)
    run_recipe(reader, requests[:1])                      # open the decoder outside the timing
    status = getattr(reader, "gpu_status", "cpu") if reader.device.type == "cuda" else "cpu"
    before = getattr(reader, "decoded_frames", None)

    def run():
        out = run_recipe(reader, requests)
        if reader.device.type == "cuda":
            torch.cuda.synchronize()
        return out

    rate, clips = timed(run, repeats)
    r = {"clips_per_s": rate, "frames_per_s": rate * clips[0].shape[0], "status": status,
         "clips": torch.stack(clips).cpu()}
    if before is not None:
        decoded = (reader.decoded_frames - before) / (repeats * len(requests))
        r["decoded_per_s"] = rate * decoded
    reader.close()
    return r


def fell_back(name, r) -> bool:
    """A GPU implementation that did not decode on the GPU."""
    return name != REFERENCE and not name.startswith("native cpu") and "nvdec" not in r.get("status", "")


def run_video(label, path, clips, repeats, implementations):
    requests = windows(clips, SECONDS)
    results = {}
    for name in implementations:
        try:
            results[name] = measure(name, path, requests, repeats)
        except Exception as err:  # recorded, and the next implementation still runs
            results[name] = {"error": f"{type(err).__name__}: {err}".splitlines()[0][:200]}
    want = results.get(REFERENCE, {}).get("clips")
    for name, r in results.items():
        got = r.pop("clips", None)
        if got is not None and want is not None and name != REFERENCE:
            diff = (got.int() - want.int()).abs()
            r["max_abs_diff"], r["mean_abs_diff"] = int(diff.max()), float(diff.float().mean())
    return {"video": label, "clips": clips, "results": results}


def rows_of(results):
    """results.csv rows of a results dict (the JSON this script writes)."""
    return [row for entry in results["videos"] for row in measurement_rows(
        "gpu_sampler_clip_recipe", f"{entry['video']} H.264 gop{GOP}, {entry['clips']} clips of 4 frames at {SIZE}",
        entry["results"], METRICS)]


def table(results) -> str:
    """Markdown table: speed and sameness per video and implementation."""
    lines = []
    for e in results["videos"]:
        for impl, r in e["results"].items():
            if "error" in r:
                lines.append([e["video"], impl, f"error: {r['error']}", "", "", "", "", ""])
                continue
            decoded = f"{r['decoded_per_s']:.0f}" if "decoded_per_s" in r else "-"
            mx = str(r["max_abs_diff"]) if "max_abs_diff" in r else "-"
            mean = f"{r['mean_abs_diff']:.3f}" if "mean_abs_diff" in r else "-"
            lines.append([e["video"], impl, f"{r['clips_per_s']:.1f}", f"{r['frames_per_s']:.0f}", decoded, mx, mean,
                          r["status"]])
    return markdown_table(["video", "implementation", "clips/s", "frames/s", "decoded frames/s", "max diff",
                           "mean diff", "decoder"], lines)


def main(argv=None):
    parser = bench_parser(__doc__, repeats=2, workdir="surgvlp_bench_gpu_sampler", json_out=True)
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--videos", nargs="+", default=list(VIDEOS), choices=list(VIDEOS))
    args = parser.parse_args(argv)
    device = cuda_device("bench_gpu_sampler")
    if device is None:
        return 2
    os.makedirs(args.workdir, exist_ok=True)
    implementations = [REFERENCE, "native cpu 4t", "native nvdec", "torchcodec cuda"]
    results = {"videos": [], "device": device}
    for label in args.videos:
        path = make_video(os.path.join(args.workdir, f"{label}_gop{GOP}.mp4"), GOP, SECONDS, VIDEOS[label])
        results["videos"].append(run_video(label, path, args.clips, args.repeats, implementations))
        print_json_line(results["videos"][-1])
    finish(args, table(results), rows_of(results), results)
    failed = [f"{e['video']} {name}: {r.get('error') or r['status']}" for e in results["videos"]
              for name, r in e["results"].items() if "error" in r or fell_back(name, r)]
    for line in failed:
        print(f"bench_gpu_sampler: not measured on the GPU: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
