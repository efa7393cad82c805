"""Exceptions of the data layer. Each message names the file (and row) at fault."""


class DataFormatError(ValueError):
    """A data file breaks the on-disk contract (reference.md §2)."""

    def __init__(self, path: str, message: str, row: int | None = None):
        self.path, self.row, self.problem = path, row, message
        where = f"{path}, row {row}" if row is not None else path
        super().__init__(f"{where}: {message}")


class CorruptVideoError(RuntimeError):
    """A lecture video cannot be opened or decoded. The trainer catches it, counts it and skips the sample."""

    def __init__(self, path: str, cause: BaseException | str):
        self.path = path
        super().__init__(f"{path}: cannot decode video ({cause})")
