"""Exceptions of the data layer. Each message names the file (and row) at fault."""
from .video.errors import VideoError


class DataFormatError(ValueError):
    """A data file breaks the on-disk contract (reference.md §2)."""

    def __init__(self, path: str, message: str, row: int | None = None):
        self.path, self.row, self.problem = path, row, message
        where = f"{path}, row {row}" if row is not None else path
        super().__init__(f"{where}: {message}")

    def __reduce__(self):
        return type(self), (self.path, self.problem, self.row)


class CorruptVideoError(VideoError):
    """A lecture video cannot be opened or decoded. The trainer catches it, counts it and skips the
    sample. Its constructor also accepts a single message, so the type survives a DataLoader worker
    (which re-raises worker errors as `type(message)`)."""

    def __init__(self, path: str, reason: str | None = None):
        if reason is None:
            super().__init__("<from a DataLoader worker>", path)
        else:
            super().__init__(path, f"cannot decode video ({reason})")
