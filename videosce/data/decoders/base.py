"""Backend-independent decoding API: shared types, argument checks, deadlines and dispatch by name.

Backends (pyav, decord, torchcodec, dali) live in their own modules and register a class into
`DECODERS`; callers only ever use `decode_frames` / `probe_video`, so every backend gets the
same validation, the same error messages and the same timeout handling.
"""
from __future__ import annotations

import errno
import importlib
import operator
import os
import stat
import threading
from collections import OrderedDict
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Protocol, Sequence, Tuple, TypeVar, Union

import numpy as np
import torch

from videosce.errors import UserError
from videosce.registry import Registry

PathLike = Union[str, Path]
T = TypeVar("T")

DECODERS = Registry("decoder")
register_decoder = DECODERS.register


class VideoInfo(NamedTuple):
    """What a sampler needs before decoding; `num_frames` is an upper bound on decodable frames.

    `duration` (seconds) comes from the frame timestamps, not from container metadata (often
    missing or wrong): last minus first presentation time plus one mean frame interval, i.e.
    num_frames / fps for a constant-rate video. 0.0 means the backend could not measure it.
    `damage` describes a truncated or damaged file found while probing (pyav.StreamIndex.damage);
    callers decide whether to use its frames (data.truncated).
    """

    num_frames: int
    fps: float
    height: int
    width: int
    duration: float = 0.0
    damage: str = ""  # why the file holds less than its container states ("": nothing found); see StreamIndex.damage


class DecodeError(RuntimeError):
    """A video that cannot serve a request; one-line message "<path>: <reason>" for logs.

    `reason` is optional so that torch's DataLoader, which re-raises worker errors as
    `type(exc)(message)`, hands the main process a DecodeError rather than a RuntimeError.
    """

    def __init__(self, path: PathLike, reason: str = "") -> None:
        self.path = str(path)
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.path}: {self.reason}" if self.reason else self.path)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (self.path, self.reason))


class MissingDependencyError(UserError, ImportError):
    """An optional decoder library that is not installed (or cannot load); names the pip package."""


def import_optional(module: str, backend: str, pip_name: str, hint: str = "") -> ModuleType:
    """Import a backend's library when the backend is first used, never at registration time."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"decoder backend '{backend}' needs {pip_name.split('=')[0]}: pip install {pip_name}"
        ) from exc
    except (OSError, RuntimeError) as exc:  # installed, but its native libraries do not load
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MissingDependencyError(
            f"decoder backend '{backend}': {pip_name.split('=')[0]} is installed but cannot load ({first}){hint}"
        ) from exc


class VideoDecoder(Protocol):
    """What a registered backend provides; inputs arrive already validated by this module."""

    def probe(self, path: Path) -> VideoInfo: ...

    def decode(self, path: Path, indices: List[int]) -> torch.Tensor: ...


class FileCache:
    """Small thread-safe LRU keyed by a file's identity (path, size, mtime): an edited file is re-read.

    Entries inherited through fork (DataLoader workers) are never used or closed by the child:
    library readers share file offsets and threads with the parent, so the child parks them.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: "OrderedDict[Tuple[str, int, int], Any]" = OrderedDict()
        self._parked: List[Any] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def get(self, path: Path, make: Callable[[Path], T]) -> T:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if self._pid != os.getpid():  # first use in a forked child; the lock may have been held at fork
            self._lock = threading.Lock()
            self._parked.extend(self._entries.values())
            self._entries = OrderedDict()
            self._pid = os.getpid()
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = make(path)
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def discard(self, path: Path) -> None:
        """Forget `path`, e.g. a reader that a decode error left in a bad state."""
        with self._lock:
            for key in [key for key in self._entries if key[0] == str(path)]:
                del self._entries[key]


def past_end(index: int, available: int, detail: str = "") -> str:
    """The one wording of "index past the end" every backend uses, so logs can be grepped."""
    return f"index {index} is past the end: only {available} frames{detail}"


def undo_rotation(frames: np.ndarray, degrees: float) -> np.ndarray:
    """(T,H,W,C) frames a library turned upright by the display matrix, back to stored orientation.

    PyAV, our reference, returns frames as stored; decord and torchcodec apply the rotation.
    """
    turns = int(round(-degrees / 90)) % 4
    return np.ascontiguousarray(np.rot90(frames, turns, axes=(1, 2))) if turns else frames


_instances: Dict[str, VideoDecoder] = {}
_parked: List[VideoDecoder] = []


def _forget_instances_after_fork() -> None:
    """A forked child (DataLoader worker) builds its own backends: a parent's DALI pipeline owns
    threads that do not exist in the child, so it is parked (kept alive, never used or freed)."""
    _parked.extend(_instances.values())
    _instances.clear()


os.register_at_fork(after_in_child=_forget_instances_after_fork)


def get_decoder(backend: str) -> VideoDecoder:
    """One shared instance per backend, so backends with costly setup (DALI) pay it once."""
    if backend not in DECODERS:
        raise ValueError(
            f"unknown decoder backend '{backend}'; registered backends: {', '.join(DECODERS.list())}"
        )
    if backend not in _instances:
        _instances[backend] = DECODERS.create(backend)
    return _instances[backend]


def file_problem(path: PathLike) -> Optional[str]:
    """Why `path` cannot be read as a video file, in a few words; None when it is a readable regular file."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "dangling symlink" if path.is_symlink() else "file not found"
    except OSError as exc:
        return "symlink loop" if exc.errno == errno.ELOOP else f"cannot stat ({exc.strerror})"
    if stat.S_ISDIR(mode):
        return "directory"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def check_file(path: PathLike) -> Path:
    """Catch the common bad-file cases up front so every backend reports them identically."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise DecodeError(path, problem)
    if path.stat().st_size == 0:
        raise DecodeError(path, "file is empty (0 bytes)")
    return path


def check_size(path: Path, info: VideoInfo, max_pixels: Optional[int]) -> VideoInfo:
    """DecodeError for frames larger than `max_pixels` (width x height), before any of them is decoded whole."""
    if max_pixels and info.width * info.height > max_pixels:
        raise DecodeError(
            path, f"frame size {info.width}x{info.height} exceeds data.max_pixels={max_pixels} ({info.width * info.height} pixels);"
            " raise data.max_pixels if such files are wanted"
        )
    return info


def run_with_deadline(path: Path, timeout_s: Optional[float], what: str, call: Callable[[], T]) -> T:
    """`call()` in a daemon thread; DecodeError if it has not returned after `timeout_s` seconds.

    FFmpeg cannot be interrupted inside a decode call, so a hung call is abandoned, not killed:
    its thread finishes (or stays stuck) in the background while the caller moves on.
    None or 0 runs `call` directly.
    """
    if not timeout_s:
        return call()
    outcome: Dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"{what} {path.name}", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise DecodeError(path, f"{what} timed out after {timeout_s:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def probe_video(
    path: PathLike, backend: str = "pyav", timeout_s: Optional[float] = None, max_pixels: Optional[int] = None
) -> VideoInfo:
    """Frame count, frame rate, size and duration without decoding pixels; DecodeError for frames
    larger than `max_pixels` (width x height; None or 0: no limit)."""
    decoder = get_decoder(backend)
    path = check_file(path)
    return run_with_deadline(path, timeout_s, "probe", lambda: check_size(path, decoder.probe(path), max_pixels))


def decode_frames(
    path: PathLike, indices: Sequence[int], backend: str = "pyav", timeout_s: Optional[float] = None,
    max_pixels: Optional[int] = None,
) -> torch.Tensor:
    """Frames at presentation-order `indices` as uint8 (T, H, W, 3) RGB, in the order requested.

    Duplicates and any order are allowed; frames equal those of a full sequential PyAV decode
    (pixel-exact, or within the colour tolerance a backend documents). `timeout_s` bounds the
    call: a decode still running after it raises DecodeError("... timed out after N s").
    With `max_pixels`, the file is probed first and refused if its frames are larger.
    """
    decoder = get_decoder(backend)
    path = check_file(path)
    try:
        wanted = [operator.index(i) for i in indices]
    except TypeError as exc:
        raise TypeError(f"frame indices must be integers, got {list(indices)!r}") from exc
    negative = [i for i in wanted if i < 0]
    if negative:
        raise DecodeError(path, f"frame index {negative[0]} is negative")

    def decode() -> torch.Tensor:
        if max_pixels:
            check_size(path, decoder.probe(path), max_pixels)
        return decoder.decode(path, wanted)

    return run_with_deadline(path, timeout_s, "decode", decode)
