"""The one exception of the video readers: a file that cannot be read as a video."""


class VideoError(RuntimeError):
    """A video (or frames folder) that is missing, not a video, corrupt or without a video stream.

    `path` is the offending file; the message says what is wrong with it.
    """

    def __init__(self, path, message: str):
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")

    def __reduce__(self):  # picklable across DataLoader workers
        return type(self), (self.path, self.reason)
