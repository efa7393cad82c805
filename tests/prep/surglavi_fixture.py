"""A small SurgLaVi-β look-alike: an SQLite file in the release's schema (field-data.md §A.2) with
hostile rows, and tiny H.264 videos made with the ffmpeg CLI in VIDEO_ROOT/<name>/<name>.mp4.
Every text is made up here."""
import os
import sqlite3
import subprocess

from video_helpers import FFMPEG

SCHEMA = """
CREATE TABLE videos (video_id INTEGER, title VARCHAR, name VARCHAR, url VARCHAR, fps FLOAT, duration FLOAT,
                     youtube_id VARCHAR, description TEXT);
CREATE TABLE levels (level_id INTEGER PRIMARY KEY, name VARCHAR NOT NULL);
CREATE TABLE captions (caption_id INTEGER, video_id INTEGER NOT NULL, video_name VARCHAR, level_id INTEGER NOT NULL,
                       raw_narration TEXT, start_time FLOAT, end_time FLOAT, duration FLOAT,
                       is_surgical_content BOOLEAN, is_descriptive BOOLEAN, caption TEXT);
"""
# videos on disk (40 s each); "absent" is in the database only, "not_a_video" a file of junk
ON_DISK = ("case_a", "case-b", "case.c", "case_d")
VIDEO_SECONDS = 40
ACTIONS = ("grasper lifts the fundus", "hook opens the peritoneum", "clipper closes the duct",
           "scissors divide the artery", "bag retrieves the specimen", "irrigation clears the field",
           "hook burns the bed", "camera shows the liver", "trocar enters the abdomen", "needle closes the fascia")
STEP_NAMES = ("exposure of the triangle", "dissection of the duct", "clipping and cutting", "retrieval of the organ")
PHASE_NAMES = ("preparation and dissection", "clipping and extraction")


def make_video(path: str, seconds: int = VIDEO_SECONDS):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([FFMPEG, "-y", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size=64x64:rate=8:duration={seconds}",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "8", "-bf", "0", path], check=True)


def good_captions(video_id: int, name: str, first_id: int) -> list:
    """Tasks every 4 s, 4 steps of 10 s, 2 phases of 20 s (all descriptive and surgical)."""
    rows, cid = [], first_id
    for k in range(VIDEO_SECONDS // 4):
        action = ACTIONS[(k + video_id) % len(ACTIONS)]
        rows.append((cid, video_id, name, 1, f"so here the {action} um", 4.0 * k, 4.0 * k + 4, 4.0, 1, 1,
                     f"The {action} carefully."))
        cid += 1
    for k, step in enumerate(STEP_NAMES):
        rows.append((cid, video_id, name, 2, f"now the {step}", 10.0 * k, 10.0 * k + 10, 10.0, 1, 1,
                     f"This step is the {step}, done with care."))
        cid += 1
    for k, phase in enumerate(PHASE_NAMES):
        rows.append((cid, video_id, name, 3, f"this part is {phase}", 20.0 * k, 20.0 * k + 20, 20.0, 1, 1,
                     f"A phase of {phase} in a cholecystectomy."))
        cid += 1
    return rows


# (caption_id, what the importer must say about it); the rows themselves are in hostile_captions()
HOSTILE = {
    900: "caption is NULL, empty or not text",
    901: "must be >= 0 and before end_time",
    902: "are not numbers",
    903: "video_id 77 is not in table videos",
    904: "level_id must be 1, 2 or 3",
    905: "is past the end",
    906: "raw_narration is NULL, empty or not text",
    1: "duplicated caption_id",
}


def hostile_captions() -> list:
    return [
        (900, 1, "case_a", 1, "a narration", 1.0, 3.0, 2.0, 1, 1, None),          # NULL caption
        (901, 1, "case_a", 1, "a narration", 8.0, 8.0, 0.0, 1, 1, "text"),        # start = end
        (902, 1, "case_a", 1, "a narration", "abc", 9.0, 1.0, 1, 1, "text"),      # wrong type
        (903, 77, "nowhere", 1, "a narration", 1.0, 3.0, 2.0, 1, 1, "text"),      # no such video
        (904, 1, "case_a", 7, "a narration", 1.0, 3.0, 2.0, 1, 1, "text"),        # no such level
        (905, 1, "case_a", 1, "a narration", 50.0, 55.0, 5.0, 1, 1, "text"),      # past the 40 s video
        (906, 1, "case_a", 2, "   ", 2.0, 6.0, 4.0, 1, 1, "text"),                # blank raw narration
        (1, 1, "case_a", 1, "duplicate", 1.0, 3.0, 2.0, 1, 1, "duplicate"),       # duplicated caption_id
        # filtered like SurgLaVi's loader: not descriptive, not surgical, too long
        (950, 1, "case_a", 1, "chatter", 1.0, 3.0, 2.0, 1, 0, "The speaker greets the audience."),
        (951, 1, "case_a", 1, "chatter", 5.0, 7.0, 2.0, 0, 1, "The camera is cleaned outside."),
        (952, 2, "case-b", 2, "everything", 0.0, 40.0, 600.0, 1, 1, "The whole operation at once."),
        # a phase with no step midpoint inside
        (953, 2, "case-b", 3, "the very end", 38.0, 39.5, 1.5, 1, 1, "A short closing phase."),
    ]


def make_dataset(root: str) -> tuple[str, str]:
    """(db path, video root) under `root`."""
    db, video_root = os.path.join(root, "surglavi_beta.db"), os.path.join(root, "videos")
    con = sqlite3.connect(db)
    con.executescript(SCHEMA)
    con.executemany("INSERT INTO levels VALUES (?, ?)", [(1, "task"), (2, "step"), (3, "phase")])
    names = [*ON_DISK, "absent", "not_a_video"]
    rows = []
    for video_id, name in enumerate(names, start=1):
        con.execute("INSERT INTO videos (video_id, title, name, fps, duration) VALUES (?, ?, ?, 25, ?)",
                    (video_id, f"Lecture {video_id}", name, VIDEO_SECONDS))
        rows += good_captions(video_id, name, first_id=100 * video_id if video_id > 1 else 1)
    con.execute("INSERT INTO videos (video_id, title, name) VALUES (1, 'again', 'case_again')")  # duplicated id
    con.executemany("INSERT INTO captions VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows + hostile_captions())
    con.commit()
    con.close()
    for name in ON_DISK:
        make_video(os.path.join(video_root, name, f"{name}.mp4"))
    os.makedirs(os.path.join(video_root, "not_a_video"))
    with open(os.path.join(video_root, "not_a_video", "not_a_video.mp4"), "wb") as f:
        f.write(b"\x00junk" * 500)
    return db, video_root
