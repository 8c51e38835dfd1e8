"""Capture sources: .scap files (read and write) and, later, the live drivers."""

from falco.capture.errors import CaptureError
from falco.capture.scap_reader import ScapReader, open_capture

__all__ = ["CaptureError", "ScapReader", "open_capture"]
