"""`import-surglavi` on a generated SurgLaVi-β-sized database against the dataset's own way of reading it.

The database has the release's schema and size (113k captions over 6,812 videos by default: per video
about 12 task, 3 step and 1-2 phase captions, 5 % not descriptive); every video is a link to one tiny
H.264 file made with the ffmpeg CLI, so each one is found and probed. Measured, one process:

- ours: the whole import (read-only read and row checks, filters, a duration probe per video, the
  lectures' CSVs and links, splits, summary) into a fresh folder with a fresh frame-index cache; then
  a rerun over the finished folder (nothing changes);
- baseline: SurgLaVi's loader (`src/dataloader.py`): the filtered caption query, then one
  `SELECT name, fps FROM videos WHERE video_id = ?` per caption in a Python loop building the
  (path, start, end, text) list. It reads only: no checks, no probe, nothing written.

    .venv/bin/python benchmarks/bench_surglavi_import.py [--rows 113000] [--videos 6812] --no-csv
"""
import contextlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Metric, bench_parser, finish, markdown_table, measurement_rows  # noqa: E402

WORDS = ("grasper", "hook", "clipper", "gallbladder", "duct", "artery", "liver", "fundus", "dissects", "retracts",
         "clips", "cuts", "the", "cystic", "bed", "peritoneum", "scissors", "bag", "irrigation", "trocar")


def text(rng_state: int, n: int) -> str:
    return " ".join(WORDS[(rng_state * 7 + 3 * k) % len(WORDS)] for k in range(n))


def make_database(path: str, rows: int, videos: int):
    """The release's two tables, `rows` captions spread over `videos` videos (deterministic)."""
    con = sqlite3.connect(path)
    con.executescript("""
        CREATE TABLE videos (video_id INTEGER PRIMARY KEY, title VARCHAR, name VARCHAR, fps FLOAT, duration FLOAT);
        CREATE TABLE captions (caption_id INTEGER PRIMARY KEY, video_id INTEGER NOT NULL, video_name VARCHAR,
            level_id INTEGER NOT NULL, raw_narration TEXT, start_time FLOAT, end_time FLOAT, duration FLOAT,
            is_surgical_content BOOLEAN, is_descriptive BOOLEAN, caption TEXT);""")
    con.executemany("INSERT INTO videos VALUES (?, ?, ?, 25, 60)",
                    [(v, f"Lecture {v}", f"vid{v:05d}") for v in range(1, videos + 1)])
    per_video = rows / videos
    captions, cid = [], 1
    for v in range(1, videos + 1):
        n = int(round(per_video * v)) - int(round(per_video * (v - 1)))
        n_phase, n_step = max(1, n // 12), max(1, n // 6)
        for k in range(n):
            level = 3 if k < n_phase else 2 if k < n_phase + n_step else 1
            count = {3: n_phase, 2: n_step, 1: max(1, n - n_phase - n_step)}[level]
            j = k - (0 if level == 3 else n_phase if level == 2 else n_phase + n_step)
            span = 9.0 / count
            start, end = j * span, (j + 1) * span
            captions.append((cid, v, f"vid{v:05d}", level, "so " + text(cid, 12), start, end, end - start,
                             1, 0 if cid % 20 == 0 else 1, "The " + text(cid + 1, 18) + "."))
            cid += 1
    con.executemany("INSERT INTO captions VALUES (?,?,?,?,?,?,?,?,?,?,?)", captions)
    con.commit()
    con.close()


def make_videos(root: str, videos: int):
    """One 10 s H.264 file, linked as VIDEO_ROOT/<name>/<name>.mp4 for every video."""
    os.makedirs(root, exist_ok=True)
    tiny = os.path.join(root, "tiny.mp4")
    subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=64x64:rate=10:duration=10", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10",
                    tiny], check=True)
    for v in range(1, videos + 1):
        name = f"vid{v:05d}"
        os.makedirs(os.path.join(root, name), exist_ok=True)
        link = os.path.join(root, name, f"{name}.mp4")
        if not os.path.lexists(link):
            os.symlink(tiny, link)


def loader_baseline(db: str, video_root: str, max_duration=500, min_duration=0, enhanced=True) -> list:
    """SurgLaVi's `_load_annotations`: one query, then one video query per caption."""
    con = sqlite3.connect(db)
    cur = con.cursor()
    column = "caption" if enhanced else "raw_narration"
    cur.execute(f"SELECT caption_id, video_id, level_id, start_time, end_time, {column} FROM captions "
                "WHERE duration <= ? AND duration > ? AND level_id IN (1,2,3) "
                "AND is_descriptive=1 AND is_surgical_content=1 ORDER BY caption_id", (max_duration, min_duration))
    out = []
    for caption_id, video_id, level_id, start, end, caption in cur.fetchall():
        cur.execute("SELECT name, fps FROM videos WHERE video_id = ?", (video_id,))
        name, fps = cur.fetchone()
        out.append({"caption_id": caption_id, "video_path": os.path.join(video_root, name, f"{name}.mp4"),
                    "level": level_id, "start": start, "end": end, "fps": fps, "text": caption})
    con.close()
    return out


def our_import(db, video_root, out) -> tuple[int, str]:
    """The command in this process, starting as a fresh `surgvlp-fast import-surglavi` process does: with
    no frame index in memory."""
    from surgvlp_fast import cli
    from surgvlp_fast.video.index import forget_loaded_indexes

    forget_loaded_indexes()
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = cli.main(["import-surglavi", db, video_root, out])
    return code, stdout.getvalue()


def prepare_inputs(work: str, rows: int, videos: int) -> tuple[str, str, str]:
    """(db, video root, output folder) in `work`: the database and videos made once, the output folder and a
    fresh frame-index cache emptied, and the native video library loaded (a one-off of the process, not of
    the import)."""
    from surgvlp_fast.prep.importers.surglavi import probe_duration

    db, video_root, out = (os.path.join(work, x) for x in ("surglavi_beta.db", "videos", "out"))
    os.makedirs(work, exist_ok=True)
    if not os.path.exists(db):
        make_database(db + ".part", rows, videos)
        os.replace(db + ".part", db)
    make_videos(video_root, videos)
    index_cache = os.path.join(work, "index_cache")
    shutil.rmtree(index_cache, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    os.environ["SURGVLP_FAST_VIDEO_INDEX_DIR"] = index_cache
    probe_duration(os.path.join(video_root, "tiny.mp4"))
    return db, video_root, out


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def test_import_keeps_the_pairs_the_loader_keeps(tmp_path):
    """At a tiny size: the import's task rows, whole-video keystep rows and phases are the loader's pairs."""
    import csv
    import glob

    db, video_root, out = str(tmp_path / "s.db"), str(tmp_path / "videos"), str(tmp_path / "out")
    make_database(db, 400, 20)
    make_videos(video_root, 20)
    assert our_import(db, video_root, out)[0] == 0

    def n_rows(pattern):
        return sum(len(list(csv.DictReader(open(f)))) for f in glob.glob(pattern))
    kept = (n_rows(f"{out}/aws_narration_texts/*.csv") + n_rows(f"{out}/keystep_texts/vid?????.csv")
            + len(glob.glob(f"{out}/abstract_texts/*.csv")))
    assert kept == len(loader_baseline(db, video_root)) == 400 - 400 // 20


def main(argv=None):
    parser = bench_parser(__doc__, workdir="surglavi_import_bench")
    parser.add_argument("--rows", type=int, default=113_000, help="captions in the generated database")
    parser.add_argument("--videos", type=int, default=6812, help="videos in the generated database")
    args = parser.parse_args(argv)
    db, video_root, out = prepare_inputs(os.path.join(args.workdir, f"r{args.rows}_v{args.videos}"), args.rows,
                                         args.videos)
    t_base, pairs = timed(lambda: loader_baseline(db, video_root))
    t_ours, (code, summary) = timed(lambda: our_import(db, video_root, out))
    if code != 0:
        raise SystemExit(f"import-surglavi failed:\n{summary}")
    t_rerun, _ = timed(lambda: our_import(db, video_root, out))
    table = markdown_table(["implementation", "time", "captions/s"], [
        ["SurgLaVi loader: query + 1 query per caption (read only)", f"{t_base:.2f} s", f"{len(pairs) / t_base:,.0f}"],
        ["import-surglavi, fresh (checks, probes, writes)", f"{t_ours:.2f} s", f"{args.rows / t_ours:,.0f}"],
        ["import-surglavi, rerun over the finished folder", f"{t_rerun:.2f} s", f"{args.rows / t_rerun:,.0f}"]])
    measured = {"loader_per_row_queries": {"seconds": t_base}, "import_fresh": {"seconds": t_ours},
                "import_rerun": {"seconds": t_rerun}}
    size = f"{args.rows}rows_{args.videos}videos"
    finish(args, f"SurgLaVi import, {args.rows} captions, {args.videos} videos ({len(pairs)} pairs pass the "
                 f"loader's filter)\n{summary}\n{table}",
           measurement_rows("surglavi_import", size, measured, [Metric("seconds", "time", "s", ".3f")]))


if __name__ == "__main__":
    main()
