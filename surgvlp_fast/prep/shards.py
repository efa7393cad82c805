"""Data preparation split over machines: the one partition of videos into shards, the record a shard
leaves, the merge's checks of those records, and whole-file writes.

- `--shard I/N` (0 <= I < N; read by `config.parse_shard`) takes the videos whose name's SHA-1 (its first
  8 bytes, big-endian) mod N is I: every preparation command uses this rule (`shard_of`), on the video's
  name (the file name up to its first '.'; SurgLaVi's `videos.name` for import-surglavi).
- A shard that ran to its end writes `FOLDER/shard-I-of-N.json`: the settings that must agree across
  shards and what its merge needs. `--merge N` reads the N records (`load_records`) and refuses a
  missing one or one made with other settings.
- `write_text` writes a file whole through a fixed temporary name (a killed run's leftover is replaced
  by the next run) and leaves an identical file untouched, so a rerun writes the same bytes.
"""
import hashlib
import json
import os

from ..config import ConfigError


class ShardError(ConfigError):
    """A bad --merge value, or a merge that cannot be made (a shard missing, or made with other
    settings): one line for the user."""


def video_rank(name: str) -> int:
    """A video's place in the deterministic order that picks the shards (and SurgLaVi's validation videos)."""
    return int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:8], "big")


def shard_of(name: str, count: int) -> int:
    return video_rank(name) % count


def add_shard_arguments(parser, merge_help: str | None = None):
    """--shard I/N, and --merge N (exclusive with it) for a command whose outputs include one file made
    from all videos (`merge_help` says what the merge writes)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--shard", metavar="I/N", help="do only the videos of part I of N (0 <= I < N; a video's "
                                                      "part: SHA-1 of its name mod N)"
                                                      + ("; then run --merge N" if merge_help else ""))
    if merge_help:
        group.add_argument("--merge", metavar="N", help=f"after the N shards: {merge_help}")


def parse_merge(text) -> int | None:
    if text is None:
        return None
    try:
        n = int(text)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise ShardError(f"--merge takes the number of shards (>= 1); got {text!r}")
    return n


def temp_path(path: str, suffix: str = ".tmp") -> str:
    """The fixed temporary name of `path` (hidden, beside it)."""
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{suffix}")


def write_text(path: str, text: str, suffix: str = ".tmp") -> bool:
    """Write whole through the fixed temporary name; an identical file is left untouched (and a leftover
    temporary file removed). Returns whether the file was written."""
    tmp = temp_path(path, suffix)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if f.read() == text:
                if os.path.lexists(tmp):
                    os.remove(tmp)
                return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)
    return True


def record_path(folder: str, shard: int, count: int) -> str:
    return os.path.join(folder, f"shard-{shard}-of-{count}.json")


def read_record(folder: str, shard: int, count: int) -> dict:
    """This shard's last record (empty when none or unreadable)."""
    try:
        with open(record_path(folder, shard, count), encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, ValueError):
        return {}


def save_record(folder: str, shard: int, count: int, settings: dict, **payload):
    """The record of a finished shard: its settings and `payload` (JSON values)."""
    record = {"settings": settings, **payload}
    write_text(record_path(folder, shard, count), json.dumps(record, indent=1, sort_keys=True) + "\n")


def load_records(folder: str, count: int, settings: dict, command: str) -> list[dict]:
    """The N records, in shard order; ShardError names the first one missing or made with other settings."""
    records = []
    for shard in range(count):
        path = record_path(folder, shard, count)
        try:
            with open(path, encoding="utf-8") as f:
                record = json.load(f)
        except FileNotFoundError:
            raise ShardError(f"{path}: missing: run {command} --shard {shard}/{count} first") from None
        except ValueError:
            raise ShardError(f"{path}: unreadable: run {command} --shard {shard}/{count} again") from None
        theirs = record.get("settings", {})
        if theirs != settings:
            diff = sorted(k for k in {*settings, *theirs} if theirs.get(k) != settings.get(k))
            raise ShardError(f"{path}: made with other settings ({', '.join(diff)}) than this merge")
        records.append(record)
    return records
