"""Checkpoint files: atomic writes (temporary file + rename), the last N kept, the latest readable one found.

A write that fails (disk full, I/O error) leaves every earlier checkpoint as it was and raises
`CheckpointError`; a newest checkpoint that cannot be read (cut short, corrupt) is passed over for
the one before it. Checkpoints are read with `weights_only=True`: tensors and plain containers
only, so a file carrying a pickled object runs no code.
"""
import glob
import os
import re

import torch

PATTERN = re.compile(r"step(\d{9})\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read (the message names the file and the cause)."""


def checkpoint_dir(work_dir: str) -> str:
    return os.path.join(work_dir, "checkpoints")


def checkpoint_path(work_dir: str, step: int) -> str:
    return os.path.join(checkpoint_dir(work_dir), f"step{step:09d}.pt")


def atomic_save(obj, path: str, opener=open) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename over `path`.
    On any failure the temporary file is removed, `path` and its neighbours are untouched, and a
    `CheckpointError` naming the file and the cause is raised. `opener` is `open` (tests pass a
    fault-injecting one)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with opener(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:   # torch.save reports a failed write as RuntimeError
        raise CheckpointError(f"cannot write the checkpoint {path}: {_root_cause(err)}; the earlier checkpoints "
                              "are intact (free some space and resume with --resume)") from err
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _root_cause(err: BaseException) -> str:
    """The OSError behind torch.save's RuntimeError ("unexpected pos ...") when there is one."""
    seen = err
    while seen is not None and not isinstance(seen, OSError):
        seen = seen.__cause__ or seen.__context__
    if seen is not None:
        return f"{seen.strerror or seen}" + (f" ({seen.filename})" if seen.filename else "")
    return str(err)


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
    """Read one checkpoint (tensors and plain containers only); CheckpointError when it cannot be read."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:   # truncated zip, bit rot, a pickle that is not weights-only, ...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"cannot read the checkpoint {path}: {reason}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"cannot read the checkpoint {path}: not a training checkpoint (no 'model' entry)")
    return state


def load_latest(work_dir: str, log=print) -> tuple[str, dict] | None:
    """The newest checkpoint that reads, as (path, state); unreadable newer ones are reported through
    `log` and passed over. None when there is no checkpoint; CheckpointError when none reads."""
    files = list_checkpoints(work_dir)
    problems = []
    for i, path in enumerate(reversed(files)):
        try:
            return path, load_checkpoint(path)
        except CheckpointError as err:
            problems.append(str(err))
            if i + 1 < len(files):
                log(f"{err}; falling back to the checkpoint before it")
    if problems:
        raise CheckpointError(f"no readable checkpoint in {checkpoint_dir(work_dir)}: " + "; ".join(problems))
    return None
