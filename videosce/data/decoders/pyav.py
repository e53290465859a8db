"""PyAV backend: sequential decode from the first frame, correct by construction.

Frame `i` is the i-th frame `container.decode(video=0)` yields, so container metadata (frame
counts that MKV/WebM leave at 0 or that corrupt files overstate) is never trusted. Decoding
stops after the largest requested index; a keyframe-seeking fast path can replace this later.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import av
import numpy as np
import torch

from videosce.data.decoders.base import DecodeError, VideoInfo, register_decoder


def _reason(exc: Exception) -> str:
    """FFmpeg's own wording without the errno prefix and the repeated file name."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


@contextmanager
def _open_video(path: Path) -> Iterator[Tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """Open `path` and yield its first video stream; the container is always closed."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise DecodeError(path, f"cannot open: {_reason(exc)}") from exc
    with container:
        if not container.streams.video:
            kinds = ", ".join(s.type for s in container.streams) or "none"
            raise DecodeError(path, f"no video stream (streams: {kinds})")
        yield container, container.streams.video[0]


@register_decoder("pyav")
class PyAVDecoder:
    """Decoder backed by PyAV (bundled FFmpeg); CPU only."""

    def probe(self, path: Path) -> VideoInfo:
        """Count video packets by demuxing only: one packet per frame, far cheaper than decoding."""
        with _open_video(path) as (container, stream):
            try:
                num_packets = sum(1 for packet in container.demux(stream) if packet.size)
            except av.error.FFmpegError as exc:
                raise DecodeError(path, f"cannot count video packets: {_reason(exc)}") from exc
            if num_packets == 0:
                raise DecodeError(path, "video stream has no packets")
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not rate:
                raise DecodeError(path, "video stream has no frame rate")
            return VideoInfo(num_packets, float(rate), stream.height, stream.width)

    def decode(self, path: Path, indices: List[int]) -> torch.Tensor:
        """Decode sequentially up to max(indices), converting only the requested frames."""
        with _open_video(path) as (container, stream):
            if not indices:
                return torch.empty((0, stream.height, stream.width, 3), dtype=torch.uint8)
            wanted = set(indices)
            last = max(wanted)
            frames: Dict[int, np.ndarray] = {}
            decoded = 0
            try:
                for frame in container.decode(stream):
                    if decoded in wanted:
                        frames[decoded] = frame.to_ndarray(format="rgb24")
                    decoded += 1
                    if decoded > last:
                        break
            except av.error.FFmpegError as exc:
                # Decoding stops right after `last`, so a failure means a requested frame is missing;
                # a damaged tail after the requested frames is never reached.
                missing = min(wanted - frames.keys())
                raise DecodeError(
                    path,
                    f"index {missing} is past the end: only {decoded} frames could be decoded"
                    f" before FFmpeg failed ({_reason(exc)})",
                ) from exc
        if len(frames) < len(wanted):
            missing = min(wanted - frames.keys())
            raise DecodeError(path, f"index {missing} is past the end: only {decoded} frames could be decoded")
        return torch.from_numpy(np.stack([frames[i] for i in indices]))
