"""A contact sheet of search hits: each moment's best frame with its video, time span and score."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..video import VideoError, open_video
from .moments import Moment

TILE = (180, 320)   # H, W of a thumbnail
CAPTION = 34


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def thumbnail(moment: Moment) -> np.ndarray | None:
    """(h, w, 3) uint8 frame at the moment's best second fitted in TILE, None when its video cannot be read now."""
    try:
        with open_video(moment.video) as reader:
            frame = reader.frames_at([moment.best], layout="THWC")[0]
    except (VideoError, OSError):
        return None
    return fit_in_tile(frame.numpy())


def fit_in_tile(frame: np.ndarray) -> np.ndarray:
    """The frame resized to fit TILE, its aspect kept."""
    from PIL import Image

    h, w = frame.shape[:2]
    scale = min(TILE[0] / h, TILE[1] / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(frame).resize(size, Image.BILINEAR))


def contact_sheet(path, moments: Sequence[Moment], query: str = "", columns: int = 4) -> Path:
    """Write the sheet PNG (atomically); a video that cannot be read shows a grey tile."""
    from PIL import Image, ImageDraw

    rows = max(1, -(-len(moments) // columns))
    h, w = TILE
    title = 22 if query else 0
    sheet = Image.new("RGB", (columns * w, title + rows * (h + CAPTION)), "white")
    draw = ImageDraw.Draw(sheet)
    if query:
        draw.text((6, 4), f"search: {query}"[:150], fill="black")
    for i, moment in enumerate(moments):
        x, y = (i % columns) * w, title + (i // columns) * (h + CAPTION)
        frame = thumbnail(moment)
        if frame is None:
            draw.rectangle([x, y, x + w - 1, y + h - 1], fill=(160, 160, 160))
            draw.text((x + 8, y + h // 2), "video not readable", fill="black")
        else:
            sheet.paste(Image.fromarray(frame), (x + (w - frame.shape[1]) // 2, y + (h - frame.shape[0]) // 2))
        draw.text((x + 4, y + h + 2), f"{i + 1}. {os.path.basename(moment.video)}"[:48], fill="black")
        draw.text((x + 4, y + h + 17), f"{_clock(moment.start)}-{_clock(moment.end)}  score {moment.score:.3f}",
                  fill="black")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    sheet.save(tmp)
    os.replace(tmp, path)
    return path
