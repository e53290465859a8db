"""Backend-independent decoding API: shared types, argument checks and dispatch by backend name.

Backends (PyAV now; decord, torchcodec, DALI later) live in their own modules and register a
class into `DECODERS`; callers only ever use `decode_frames` / `probe_video`, so every backend
gets the same validation and the same error messages.
"""
from __future__ import annotations

import operator
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Protocol, Sequence, Tuple, Union

import torch

from videosce.registry import Registry

PathLike = Union[str, Path]

DECODERS = Registry("decoder")
register_decoder = DECODERS.register


class VideoInfo(NamedTuple):
    """What a sampler needs before decoding; `num_frames` is an upper bound on decodable frames."""

    num_frames: int
    fps: float
    height: int
    width: int


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


class VideoDecoder(Protocol):
    """What a registered backend provides; inputs arrive already validated by this module."""

    def probe(self, path: Path) -> VideoInfo: ...

    def decode(self, path: Path, indices: List[int]) -> torch.Tensor: ...


_instances: Dict[str, VideoDecoder] = {}


def get_decoder(backend: str) -> VideoDecoder:
    """One shared instance per backend, so backends with costly setup (DALI) pay it once."""
    if backend not in DECODERS:
        raise ValueError(
            f"unknown decoder backend '{backend}'; registered backends: {', '.join(DECODERS.list())}"
        )
    if backend not in _instances:
        _instances[backend] = DECODERS.create(backend)
    return _instances[backend]


def _check_file(path: PathLike) -> Path:
    """Catch the common bad-file cases up front so every backend reports them identically."""
    path = Path(path)
    if not path.exists():
        raise DecodeError(path, "file not found")
    if not path.is_file():
        raise DecodeError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise DecodeError(path, "file is empty (0 bytes)")
    return path


def probe_video(path: PathLike, backend: str = "pyav") -> VideoInfo:
    """Frame count, frame rate and size without decoding pixels."""
    decoder = get_decoder(backend)
    return decoder.probe(_check_file(path))


def decode_frames(path: PathLike, indices: Sequence[int], backend: str = "pyav") -> torch.Tensor:
    """Frames at presentation-order `indices` as uint8 (T, H, W, 3) RGB, in the order requested.

    Duplicates and any order are allowed; frames equal those of a full sequential decode.
    """
    decoder = get_decoder(backend)
    path = _check_file(path)
    try:
        wanted = [operator.index(i) for i in indices]
    except TypeError as exc:
        raise TypeError(f"frame indices must be integers, got {list(indices)!r}") from exc
    negative = [i for i in wanted if i < 0]
    if negative:
        raise DecodeError(path, f"frame index {negative[0]} is negative")
    return decoder.decode(path, wanted)
