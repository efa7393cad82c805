"""make_world: write a complete synthetic data folder in the seed's layout (reference.md §2, decisions.md §7).

    root/
      videos/{id}.mp4                          H.264 lectures, 25 fps (rendered at `render_fps`, frames duplicated)
      aws_narration_texts/{id}.csv             start,end,text  (lemmatised, sparse)
      whisper_narration_texts/{id}.csv         start,end,text  (lower case, dense)
      keystep_texts/{id}.csv                   start,end,step,text
      abstract_texts/{id}.csv                  start,end,text  (one row)
      splits/{train_narration,train_keystep,train_abstract,val}.csv      video_path
      downstream_datasets/cholec80/{csvs/videoNN.csv, frames/videoNN_{k+1}.png}
      downstream_datasets/autolaparo/{csvs/NN.csv, frames/NN_{k}.png}   (k from 1)
      downstream_datasets/CholecT50-challenge-train/{data/VIDxx/{k:06d}.png, triplet|instrument|verb|target/VIDxx.txt}
      prompts/                                 class prompt files, triplet prompts
      tokenizer/                               WordPiece tokenizer trained on the world's texts
      world.json                               the ground truth: phase boundaries of every video, settings

Every video is generated from its own child of `numpy.random.SeedSequence(seed)`, so the world is
the same for a seed whatever the number of worker processes.
"""
import csv
import json
import multiprocessing
import os
import shutil
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace

import numpy as np

from .. import resources
from .narration import NOISE_PRESETS, abstract_text, aws_rows, keystep_rows, whisper_rows
from .phases import PROCEDURES
from .render import VISUAL_PRESETS, render_frames

PROPORTIONS_CONCENTRATION = 40.0
MIN_PHASE_S = 3.0
LECTURES_PER_ENCODE = 16  # lectures per ffmpeg process (its start-up costs as much as encoding one)


@dataclass(frozen=True)
class WorldSize:
    lectures: int
    lecture_s: tuple          # (min, max) duration in seconds
    cholec80_train: int       # videos 01.. ; test videos are numbered from 49
    cholec80_test: int
    autolaparo_train: int     # videos 01.. ; test videos from 15
    autolaparo_test: int
    cholect50_test: int       # the first n of the official test list
    downstream_s: tuple
    val_fraction: float = 0.05
    hysterectomy_fraction: float = 0.15
    size: int = 64
    render_fps: float = 1.0
    video_fps: int = 25
    vocab_size: int = 1000


PRESETS = {
    "tiny": WorldSize(6, (24, 32), 1, 2, 1, 1, 1, (22, 30), val_fraction=0.2, hysterectomy_fraction=0.2,
                      vocab_size=400),
    "default": WorldSize(40, (60, 120), 2, 5, 1, 2, 2, (60, 120)),
    "demo": WorldSize(800, (60, 120), 4, 30, 3, 7, 10, (60, 120)),
}


def phase_bounds(duration: float, phases, rng) -> np.ndarray:
    """Start time of each phase (ordered): Dirichlet shares around the phase proportions, >= 3 s each."""
    shares = rng.dirichlet(np.array([p.proportion for p in phases]) * PROPORTIONS_CONCENTRATION)
    lengths = MIN_PHASE_S + shares * (duration - MIN_PHASE_S * len(phases))
    return np.round(np.concatenate([[0.0], np.cumsum(lengths)[:-1]]), 2)


def frame_phases(n_frames: int, fps: float, bounds: np.ndarray) -> np.ndarray:
    """Phase index of the frame played at k / fps."""
    return np.searchsorted(bounds, np.arange(n_frames) / fps, side="right") - 1


def encode_h264(videos: list, paths: list, in_fps: float, out_fps: int = 25, gop: int = 25):
    """Encode videos ((T, H, W, 3) uint8 each, same H and W) with one ffmpeg CLI process: they are
    concatenated and cut back into files by the segment muxer at keyframes (one every `gop` frames, so
    every video must last a whole number of GOPs). Frames are repeated from `in_fps` up to `out_fps`.
    Bit-exact for the same input (single thread, no encoder tag)."""
    seconds = [len(v) / in_fps for v in videos]
    gop_s = gop / out_fps
    if any(abs(s / gop_s - round(s / gop_s)) > 1e-9 for s in seconds):
        raise ValueError(f"every video must last a multiple of {gop_s} s, got {seconds}")
    h, w = videos[0].shape[1:3]
    folder = os.path.dirname(paths[0])
    pattern = os.path.join(folder, f".segment_{os.getpid()}_%05d.mp4")
    cuts = ",".join(f"{t:g}" for t in np.cumsum(seconds)[:-1])
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", f"{in_fps:g}", "-i", "-", "-r", str(out_fps), "-c:v", "libx264", "-preset", "ultrafast",
           "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-threads", "1",
           "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"]
    cmd += ["-f", "segment", "-segment_times", cuts, "-reset_timestamps", "1", "-segment_format", "mp4", pattern] \
        if len(videos) > 1 else [paths[0]]
    proc = subprocess.run(cmd, input=b"".join(np.ascontiguousarray(v).tobytes() for v in videos), capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed writing {paths}: {proc.stderr.decode(errors='replace')[-500:]}")
    if len(videos) > 1:
        for i, path in enumerate(paths):
            os.replace(pattern % i, path)


def write_csv(path: str, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def write_png(path: str, frame: np.ndarray):
    from PIL import Image

    Image.fromarray(frame).save(path, compress_level=1)


def _lecture_chunk(jobs) -> list[dict]:
    """Render and write a few lectures, then encode their videos with one ffmpeg process."""
    results, videos = [], []
    for job in jobs:
        info, frames = _lecture(job)
        results.append(info)
        videos.append(frames)
    root, cfg = jobs[0][0], jobs[0][4]
    paths = [os.path.join(root, "videos", f"{info['video_id']}.mp4") for info in results]
    encode_h264(videos, paths, cfg.render_fps, cfg.video_fps)
    return results


def _lecture(job) -> tuple[dict, np.ndarray]:
    root, video_id, procedure_name, seed, cfg, visuals, noise = job
    rng = np.random.default_rng(seed)
    procedure = PROCEDURES[procedure_name]
    phases = procedure["phases"]
    duration = float(rng.integers(cfg.lecture_s[0], cfg.lecture_s[1] + 1))
    bounds = phase_bounds(duration, phases, rng)
    n = int(round(duration * cfg.render_fps))
    frames, _, _ = render_frames(frame_phases(n, cfg.render_fps, bounds), phases, visuals, rng, cfg.size, cfg.render_fps)
    texts = {
        "aws_narration_texts": aws_rows(duration, bounds, phases, rng, noise),
        "whisper_narration_texts": whisper_rows(duration, bounds, phases, rng, noise),
    }
    for folder, rows in texts.items():
        write_csv(os.path.join(root, folder, f"{video_id}.csv"), ("start", "end", "text"), rows)
    keysteps = keystep_rows(duration, bounds, phases, rng)
    write_csv(os.path.join(root, "keystep_texts", f"{video_id}.csv"), ("start", "end", "step", "text"), keysteps)
    abstract = abstract_text(procedure, phases, rng)
    write_csv(os.path.join(root, "abstract_texts", f"{video_id}.csv"), ("start", "end", "text"), [(0, duration, abstract)])
    corpus = [r[2] for rows in texts.values() for r in rows] + [r[2] for r in keysteps] + [r[3] for r in keysteps] + [abstract]
    return {"video_id": video_id, "procedure": procedure_name, "duration": duration,
            "phase_bounds": bounds.tolist(), "corpus": corpus}, frames


def _downstream(job) -> dict:
    root, dataset, number, seed, cfg, visuals = job
    rng = np.random.default_rng(seed)
    phases = PROCEDURES["hysterectomy" if dataset == "autolaparo" else "cholecystectomy"]["phases"]
    duration = int(rng.integers(cfg.downstream_s[0], cfg.downstream_s[1] + 1))
    bounds = phase_bounds(float(duration), phases, rng)
    labels = frame_phases(duration, 1.0, bounds)
    frames, visible, confuser = render_frames(labels, phases, visuals, rng, cfg.size, 1.0)
    base = os.path.join(root, "downstream_datasets")
    if dataset == "cholec80":  # csv k = 0..n-1, files 1-indexed (the CAMMA extraction)
        name = f"video{number:02d}"
        rows = [(f"{name}_{k}.png", int(labels[k]) + 1) for k in range(duration)]
        for k in range(duration):
            write_png(os.path.join(base, "cholec80", "frames", f"{name}_{k + 1}.png"), frames[k])
        write_csv(os.path.join(base, "cholec80", "csvs", f"{name}.csv"), ("path", "label"), rows)
    elif dataset == "autolaparo":  # csv and files both from k = 1
        name = f"{number:02d}"
        rows = [(f"{name}_{k + 1}.png", int(labels[k]) + 1) for k in range(duration)]
        for k in range(duration):
            write_png(os.path.join(base, "autolaparo", "frames", f"{name}_{k + 1}.png"), frames[k])
        write_csv(os.path.join(base, "autolaparo", "csvs", f"{name}.csv"), ("path", "label"), rows)
    else:
        _write_cholect50(os.path.join(base, "CholecT50-challenge-train"), number, frames, labels, visible, confuser, phases)
    return {"dataset": dataset, "video": number, "duration": duration, "phase_bounds": bounds.tolist()}


def _write_cholect50(base, number, frames, labels, visible, confuser, phases):
    """Labels are what is visible: the phase's instrument triplet when shown, plus the confuser's."""
    vocab_bank = np.loadtxt(resources.resource_path("cholect50_triplets.txt"), dtype=str, delimiter=":")
    names = [row[1].split(",") for row in vocab_bank]
    vocab = resources.cholect50_vocabulary()
    vid = f"VID{number:02d}"
    os.makedirs(os.path.join(base, "data", vid), exist_ok=True)
    n = len(frames)
    columns = {"triplet": np.zeros((n, 100), np.int32), "instrument": np.zeros((n, 6), np.int32),
               "verb": np.zeros((n, 10), np.int32), "target": np.zeros((n, 15), np.int32)}
    for k in range(n):
        shown = ([phases[labels[k]].triplet] if visible[k] else []) + ([phases[confuser[k]].triplet] if confuser[k] >= 0 else [])
        for triplet in shown:
            i, v, t = names[triplet]
            columns["triplet"][k, triplet] = 1
            columns["instrument"][k, vocab["instrument"].index(i)] = 1
            columns["verb"][k, vocab["verb"].index(v)] = 1
            columns["target"][k, vocab["target"].index(t)] = 1
        write_png(os.path.join(base, "data", vid, f"{k:06d}.png"), frames[k])
    for kind, table in columns.items():
        os.makedirs(os.path.join(base, kind), exist_ok=True)
        with_ids = np.concatenate([np.arange(n)[:, None], table], axis=1)
        np.savetxt(os.path.join(base, kind, f"{vid}.txt"), with_ids, fmt="%d", delimiter=",")


def _write_prompts(root: str):
    folder = os.path.join(root, "prompts")
    os.makedirs(folder, exist_ok=True)
    for name in ("cholec80_prompts.txt", "autolaparo_prompts.txt", "cholec_triplet.txt"):
        shutil.copy(resources.resource_path(name), os.path.join(folder, name))
    for dataset, procedure in (("cholec80", "cholecystectomy"), ("autolaparo", "hysterectomy")):
        sentences = [f"in the {p.name} phase the {p.instruments[0]} {p.actions[0]}s the {p.anatomy[0]}"
                     for p in PROCEDURES[procedure]["phases"]]
        with open(os.path.join(folder, f"class_prompt_{dataset}_sentences.txt"), "w") as f:
            f.write("\n".join(sentences) + "\n")


def make_world(root: str, preset: str = "default", seed: int = 0, visuals: str = "default",
               narration_noise: str = "default", workers: int | None = None, overwrite: bool = False,
               **size_overrides) -> dict:
    """Write a synthetic world to `root` and return its description (also saved as root/world.json).

    preset: "tiny" (tests: a few seconds, a few MB), "default", "demo" (800 lectures for the demo).
    visuals: "easy" | "default" | "hard" | "shape_only"; narration_noise: "clean" | "default" | "noisy".
    size_overrides: fields of WorldSize (e.g. lectures=100, size=96).
    """
    started = time.perf_counter()
    cfg = replace(PRESETS[preset], **size_overrides)
    vis, noise = VISUAL_PRESETS[visuals], NOISE_PRESETS[narration_noise]
    if os.path.exists(root) and os.listdir(root):
        if not overwrite:
            raise FileExistsError(f"{root} is not empty (pass overwrite=True / --overwrite to replace it)")
        shutil.rmtree(root)
    folders = ["videos", "aws_narration_texts", "whisper_narration_texts", "keystep_texts", "abstract_texts", "splits",
               "downstream_datasets/cholec80/csvs", "downstream_datasets/cholec80/frames",
               "downstream_datasets/autolaparo/csvs", "downstream_datasets/autolaparo/frames"]
    for folder in folders:
        os.makedirs(os.path.join(root, folder), exist_ok=True)

    lecture_seq, downstream_seq, plan_seq = np.random.SeedSequence(seed).spawn(3)
    lecture_seeds, downstream_seeds = lecture_seq.spawn(cfg.lectures), iter(downstream_seq.spawn(1000))
    plan = np.random.default_rng(plan_seq)
    procedures = np.where(plan.random(cfg.lectures) < cfg.hysterectomy_fraction, "hysterectomy", "cholecystectomy")
    lecture_jobs = [(root, f"vd{i + 1:04d}syn", str(procedures[i]), lecture_seeds[i], cfg, vis, noise)
                    for i in range(cfg.lectures)]
    test_t50 = resources.split_videos("cholect50", "test")[: cfg.cholect50_test]
    downstream_jobs = (
        [(root, "cholec80", n, next(downstream_seeds), cfg, vis) for n in range(1, cfg.cholec80_train + 1)]
        + [(root, "cholec80", 49 + i, next(downstream_seeds), cfg, vis) for i in range(cfg.cholec80_test)]
        + [(root, "autolaparo", n, next(downstream_seeds), cfg, vis) for n in range(1, cfg.autolaparo_train + 1)]
        + [(root, "autolaparo", 15 + i, next(downstream_seeds), cfg, vis) for i in range(cfg.autolaparo_test)]
        + [(root, "cholect50", n, next(downstream_seeds), cfg, vis) for n in test_t50])

    chunks = [lecture_jobs[i:i + LECTURES_PER_ENCODE] for i in range(0, len(lecture_jobs), LECTURES_PER_ENCODE)]
    workers = workers or os.cpu_count() or 1
    if workers > 1:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            downstream_done = pool.map(_downstream, downstream_jobs)
            lectures = [info for chunk in pool.map(_lecture_chunk, chunks) for info in chunk]
            downstream = list(downstream_done)
    else:
        lectures = [info for chunk in map(_lecture_chunk, chunks) for info in chunk]
        downstream = [_downstream(job) for job in downstream_jobs]

    names = [f"{lec['video_id']}.mp4" for lec in lectures]
    n_val = max(1, int(round(cfg.val_fraction * len(names))))
    train, val = names[:-n_val], names[-n_val:]
    for split, videos in (("train_narration", train), ("train_keystep", train), ("train_abstract", train), ("val", val)):
        write_csv(os.path.join(root, "splits", f"{split}.csv"), ("video_path",), [(v,) for v in videos])
    _write_prompts(root)

    from .tokenizer import train_wordpiece_tokenizer

    corpus = [text for lec in lectures for text in lec.pop("corpus")]
    for name in os.listdir(os.path.join(root, "prompts")):
        corpus += resources.read_lines(os.path.join(root, "prompts", name))
    train_wordpiece_tokenizer(corpus, os.path.join(root, "tokenizer"), vocab_size=cfg.vocab_size)

    info = {"preset": preset, "seed": seed, "visuals": visuals, "narration_noise": narration_noise,
            "settings": asdict(cfg), "lectures": lectures, "downstream": downstream,
            "splits": {"train": train, "val": val}}
    with open(os.path.join(root, "world.json"), "w") as f:
        json.dump(info, f, indent=1)
    info["seconds"] = time.perf_counter() - started
    return info
