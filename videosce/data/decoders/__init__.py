"""Frame-accurate video decoding behind one API; importing a backend module registers it.

Every backend is registered here; optional libraries (decord, torchcodec, DALI) are imported
only when their backend is first used, and a missing one raises MissingDependencyError naming
the pip package.
"""
from videosce.data.decoders.base import (
    DECODERS,
    DecodeError,
    MissingDependencyError,
    VideoDecoder,
    VideoInfo,
    decode_frames,
    get_decoder,
    probe_video,
    register_decoder,
)
from videosce.data.decoders import dali, decord, pyav, torchcodec  # noqa: F401  (register the backends)
from videosce.data.decoders.pyav import frame_timestamps

__all__ = [
    "DECODERS",
    "DecodeError",
    "MissingDependencyError",
    "VideoDecoder",
    "VideoInfo",
    "decode_frames",
    "frame_timestamps",
    "get_decoder",
    "probe_video",
    "register_decoder",
]
