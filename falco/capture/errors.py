"""Errors raised by capture sources."""


class CaptureError(Exception):
    """A capture could not be read past some point.

    `offset` is the byte offset of the faulty block in the (uncompressed)
    capture stream; events before it have already been delivered.
    """

    def __init__(self, path: str, offset: int, message: str,
                 compressed: bool = False) -> None:
        self.path = path
        self.offset = offset
        self.message = message
        self.compressed = compressed
        where = "uncompressed offset" if compressed else "offset"
        super().__init__(f"{path}: {where} {offset}: {message}")
