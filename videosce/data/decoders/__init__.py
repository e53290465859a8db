"""Frame-accurate video decoding behind one API; importing a backend module registers it."""
from videosce.data.decoders.base import (
    DECODERS,
    DecodeError,
    VideoDecoder,
    VideoInfo,
    decode_frames,
    get_decoder,
    probe_video,
    register_decoder,
)
from videosce.data.decoders import pyav  # noqa: F401  (registers the "pyav" backend)

__all__ = [
    "DECODERS",
    "DecodeError",
    "VideoDecoder",
    "VideoInfo",
    "decode_frames",
    "get_decoder",
    "probe_video",
    "register_decoder",
]
