"""Checkpoint files: atomic writes (temporary file + rename), the last N kept, the latest found."""
import glob
import os
import re

import torch

PATTERN = re.compile(r"step(\d{9})\.pt$")


def checkpoint_dir(work_dir: str) -> str:
    return os.path.join(work_dir, "checkpoints")


def checkpoint_path(work_dir: str, step: int) -> str:
    return os.path.join(checkpoint_dir(work_dir), f"step{step:09d}.pt")


def atomic_save(obj, path: str) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename over `path`."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def list_checkpoints(work_dir: str) -> list[str]:
    """Complete checkpoints, oldest first (temporary files of an interrupted write are ignored)."""
    files = [p for p in glob.glob(os.path.join(checkpoint_dir(work_dir), "step*.pt")) if PATTERN.search(p)]
    return sorted(files)


def latest_checkpoint(work_dir: str) -> str | None:
    files = list_checkpoints(work_dir)
    return files[-1] if files else None


def prune(work_dir: str, keep_last: int) -> None:
    for path in list_checkpoints(work_dir)[:-keep_last]:
        os.remove(path)


def load_checkpoint(path: str) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
