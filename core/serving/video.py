"""Read a video clip one sampled frame at a time: memory bounded by a frame, not the clip.

OpenCV's ``VideoCapture`` (the FFmpeg build inside the ``opencv-python-headless`` wheel)
decodes MP4, MOV, WebM, AVI and MKV. Frames are sampled at a rate (frames per second
of the clip), spread evenly over the whole clip when the rate would exceed the frame
cap, and read in order: close samples are reached by decoding the frames between
them, far ones by seeking, so the time spent grows with the frames sampled rather than
with the clip's length. Only the current frame is ever held::

    with open_clip(path) as clip:
        for frame in clip.frames(rate=2.0, max_frames=150):
            ...  # frame.index, frame.time, frame.pixels (RGB uint8)
        clip.notes  # e.g. the file ended before its header said

Files a person can get wrong raise :class:`VideoError` with one sentence.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.data import images

VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".avi", ".mkv")
#: Frames sampled per second of the clip, by default: a few, as a person would skim it.
DEFAULT_RATE = 2.0
#: At most this many frames per clip, by default; longer clips are sampled more sparsely.
DEFAULT_MAX_FRAMES = 150
#: Clips longer than this many minutes are refused; the variable raises the limit.
MAX_MINUTES_ENV = "DEEPFAKE_MAX_CLIP_MINUTES"
DEFAULT_MAX_MINUTES = 30.0
#: A sample further ahead than this many frames is reached by seeking, not decoding.
SEEK_AFTER = 30
#: Containers whose files open with these bytes hold no picture, only sound.
_AUDIO_SIGNATURES = (b"ID3", b"fLaC", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"#!AMR")
_VIDEO_SIGNATURES = (b"\x1a\x45\xdf\xa3", b"RIFF")  # Matroska/WebM, AVI (RIFF also WAV)
#: An MP4/MOV handler box: size, ``hdlr``, version and flags, pre-defined, track kind.
_HANDLER = re.compile(rb"hdlr.{8}(vide|soun)", re.DOTALL)
SNIFF_BYTES = 4 * 2**20


class VideoError(ValueError):
    """A clip that cannot be used, with a message meant for the user."""


def is_video_name(name: str | Path) -> bool:
    """True when ``name`` has one of :data:`VIDEO_EXTENSIONS`."""
    return Path(str(name)).suffix.lower() in VIDEO_EXTENSIONS


def max_clip_seconds() -> float:
    """The longest clip accepted, in seconds (``DEEPFAKE_MAX_CLIP_MINUTES``, default 30)."""
    try:
        minutes = float(os.environ.get(MAX_MINUTES_ENV, DEFAULT_MAX_MINUTES))
    except ValueError:
        minutes = DEFAULT_MAX_MINUTES
    return max(minutes, 0.0) * 60.0


@dataclass(frozen=True)
class ClipInfo:
    """What the clip's header says.

    Attributes:
        fps: frames per second (0 when the header does not say).
        frame_count: number of frames (0 when the header does not say).
        width: frame width in pixels.
        height: frame height in pixels.
    """

    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration(self) -> float | None:
        """Length in seconds, or None when the header gives no frame count or rate."""
        if self.fps > 0 and self.frame_count > 0:
            return self.frame_count / self.fps
        return None


@dataclass
class Frame:
    """One sampled frame: its position in the clip and its RGB pixels."""

    index: int
    time: float
    pixels: np.ndarray = field(repr=False)


def _mp4_tracks(path: Path) -> set[bytes]:
    """Track kinds (``vide``, ``soun``) named by the MP4/MOV handler boxes found near either end.

    The ``moov`` box that lists the tracks sits at the start or at the end of the file.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        chunks = [handle.read(SNIFF_BYTES)]
        if size > SNIFF_BYTES:
            handle.seek(max(size - SNIFF_BYTES, SNIFF_BYTES))
            chunks.append(handle.read())
    return {match.group(1) for chunk in chunks for match in _HANDLER.finditer(chunk)}


def _kind_of_file(path: Path) -> str:
    """``audio``, ``video`` or ``""`` from the file's bytes (a guess, for messages only)."""
    with path.open("rb") as handle:
        head = handle.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio"
    if head.startswith(_AUDIO_SIGNATURES) or (head[4:8] == b"ftyp" and head[8:11] == b"M4A"):
        return "audio"
    if head[4:8] == b"ftyp":
        tracks = _mp4_tracks(path)
        return "audio" if b"soun" in tracks and b"vide" not in tracks else "video"
    if head.startswith(_VIDEO_SIGNATURES):
        return "video"
    return ""


def _not_opened(path: Path) -> VideoError:
    kind = _kind_of_file(path)
    if kind == "audio":
        return VideoError("This file holds only sound, no video track; upload a video clip.")
    if kind == "video":
        return VideoError(
            "The video file is damaged or truncated: it could not be opened; "
            "upload the whole file again."
        )
    return VideoError(
        "This file is not a video we can read (MP4, MOV, WebM, AVI or MKV); "
        "check that it is the clip you meant."
    )


def _check(info: ClipInfo, max_pixels: int, max_seconds: float) -> None:
    if info.width * info.height > max_pixels:
        raise VideoError(
            f"The clip's frames are {info.width}x{info.height} pixels, above the limit of "
            f"{max_pixels:,} pixels per frame; resize the clip before uploading."
        )
    duration = info.duration
    if duration is not None and duration > max_seconds:
        raise VideoError(
            f"The clip is {duration / 60:.1f} minutes long, above the limit of "
            f"{max_seconds / 60:.0f} minutes; cut it, or raise the limit with the "
            f"environment variable {MAX_MINUTES_ENV}."
        )


class Clip:
    """An open clip: its header, and its frames read on demand (see the module)."""

    def __init__(self, capture, info: ClipInfo, max_seconds: float) -> None:
        """Wrap an opened ``cv2.VideoCapture`` (use :func:`open_clip`)."""
        self._capture = capture
        self._position = 0  # index of the next frame a plain read returns
        self.info = info
        self.max_seconds = max_seconds
        self.notes: list[str] = []
        self.planned: int | None = None  # frames to sample, once known

    def plan(self, rate: float, max_frames: int) -> list[int] | None:
        """Frame indices to sample, or None when the header gives no length.

        Args:
            rate: frames per second of the clip to sample.
            max_frames: at most this many; a longer plan is spread evenly over the clip.
        """
        if rate <= 0 or max_frames < 1:
            raise ValueError("The sampling rate and the frame cap must be positive.")
        info = self.info
        if info.duration is None:
            return None
        step = max(info.fps / rate, 1.0)
        indices = np.arange(0.0, info.frame_count, step)
        if len(indices) > max_frames:
            indices = np.linspace(0, info.frame_count - 1, max_frames)
            self.notes.append(
                f"{max_frames} frames sampled, one every {info.duration / max_frames:.1f} s "
                f"(the cap of {max_frames} frames; {rate:g} per second would have made "
                f"{int(info.duration * rate)})."
            )
        return sorted({round(float(index)) for index in indices})

    def _read(self) -> np.ndarray | None:
        import cv2

        ok, bgr = self._capture.read()
        if not ok or bgr is None:
            return None
        self._position += 1
        if bgr.ndim == 2:
            return cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _read_at(self, index: int) -> np.ndarray | None:
        import cv2

        if index - self._position > SEEK_AFTER or index < self._position:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            self._position = index
        while self._position < index:
            if not self._capture.grab():
                return None
            self._position += 1
        return self._read()

    def _planned(self, indices: list[int]) -> Iterator[Frame]:
        fps = self.info.fps
        for index in indices:
            pixels = self._read_at(index)
            if pixels is None:
                duration = self.info.duration or 0.0
                self.notes.append(
                    f"The clip stopped at {index / fps:.1f} s of the {duration:.1f} s its "
                    "header announces: the file is truncated or damaged; the frames before "
                    "were used."
                )
                return
            yield Frame(index, index / fps, pixels)

    def _streamed(self, rate: float, max_frames: int) -> Iterator[Frame]:
        """Sample by timestamp while reading on: for files whose header gives no length."""
        import cv2

        taken, due = 0, 0.0
        while taken < max_frames:
            if not self._capture.grab():
                return
            self._position += 1
            now = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if now > self.max_seconds:
                self.notes.append(
                    f"Only the first {self.max_seconds / 60:.0f} minutes were read (the "
                    f"limit, raised with {MAX_MINUTES_ENV})."
                )
                return
            if now + 1e-6 < due:
                continue
            ok, bgr = self._capture.retrieve()
            if ok and bgr is not None:
                yield Frame(self._position - 1, now, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                taken, due = taken + 1, now + 1.0 / rate
        self.notes.append(f"Stopped at the cap of {max_frames} frames; the rest was not read.")

    def frames(
        self, rate: float = DEFAULT_RATE, max_frames: int = DEFAULT_MAX_FRAMES
    ) -> Iterator[Frame]:
        """Yield the sampled frames in order, one at a time (see :meth:`plan`).

        Raises:
            VideoError: not a single frame could be read.
        """
        indices = self.plan(rate, max_frames)
        self.planned = None if indices is None else len(indices)
        found = False
        source = self._streamed(rate, max_frames) if indices is None else self._planned(indices)
        for frame in source:
            found = True
            yield frame
        if not found:
            raise VideoError(
                "No frame of the clip could be read: the video file is damaged or truncated, "
                "or its codec is not supported."
            )


@contextlib.contextmanager
def open_clip(
    path: str | Path,
    max_pixels: int = images.MAX_PIXELS,
    max_seconds: float | None = None,
) -> Iterator[Clip]:
    """Open a clip for reading; it is closed when the block ends.

    Args:
        path: the video file.
        max_pixels: clips whose frames have more pixels are refused (as images are).
        max_seconds: longer clips are refused (default :func:`max_clip_seconds`).

    Raises:
        VideoError: the file is not a readable video, or breaks a limit; the message says.
        OSError: the path cannot be read (missing file, no permission).
    """
    import cv2

    path = Path(path)
    if path.stat().st_size == 0:
        raise VideoError("The file is empty (0 bytes).")
    max_seconds = max_clip_seconds() if max_seconds is None else max_seconds
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            raise _not_opened(path)
        info = ClipInfo(
            fps=max(float(capture.get(cv2.CAP_PROP_FPS) or 0.0), 0.0),
            frame_count=max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        if info.width < 1 or info.height < 1:
            raise _not_opened(path)
        _check(info, max_pixels, max_seconds)
        yield Clip(capture, info, max_seconds)
    finally:
        capture.release()


@contextlib.contextmanager
def clip_file(source: str | Path | tuple[str, bytes]) -> Iterator[Path]:
    """A path to the clip: the path given, or uploaded bytes in a temporary file.

    OpenCV reads from files only; the temporary file is removed when the block ends.
    """
    if not isinstance(source, tuple):
        yield Path(source)
        return
    name, data = source
    handle, temporary = tempfile.mkstemp(suffix=Path(name).suffix.lower())
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        yield Path(temporary)
    finally:
        Path(temporary).unlink(missing_ok=True)
