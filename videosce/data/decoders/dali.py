"""DALI backend: `fn.decoders.video` fed by two external sources, the encoded video and OUR frame
indices, so any sampler (e.g. N random clips per video, all in one request) drives it.

With a CUDA GPU the pipeline runs the "mixed" operator (NVDEC) and returns CUDA tensors;
without one it runs DALI's CPU operator, which decodes only VP8, VP9 and MJPEG: other codecs
get a DecodeError naming the CPU backends instead of DALI's "number of input samples: 0".
DALI's CPU decoder has no keyframe seek: it decodes every frame from the start of what it is
given, so a clip late in a file would cost it every frame before; it is given only the packets the
wanted frames need, remuxed in memory without re-encoding (`dali_input`: from the keyframe
before each clip through its last frame), and the frame indices shifted to match. Frames are
the right ones, but DALI converts YUV to RGB with its own kernel: on CPU, against PyAV, the
measured error is max 4 / mean 1.34 on a 720p camera VP9 file and max 6 / mean 1.62
on a synthetic VP9 clip (tests/test_decoders.py: DALI_TOLERANCE). Probing
uses PyAV's demux index (DALI has no probe API). With device "mixed" the training and feature
loaders decode in the main process and apply the augmentations to the CUDA clips there
(`videosce.data.builders.loader_options`): CUDA does not survive fork into DataLoader workers.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from videosce.data.decoders.base import (
    DecodeError,
    VideoInfo,
    import_optional,
    past_end,
    register_decoder,
)
from videosce.data.decoders.pyav import PyAVDecoder, remux_segments, stream_index

PIP = "nvidia-dali-cuda130==2.4.0"
CPU_CODECS = ("vp8", "vp9", "mjpeg")


def check_codec(path: Path, device: str) -> None:
    """DecodeError naming the CPU decoders for a codec DALI's CPU operator cannot decode (else DALI
    fails with "number of input samples: 0")."""
    codec = stream_index(path).codec
    if device == "cpu" and codec not in CPU_CODECS:
        raise DecodeError(
            path,
            f"DALI's CPU decoder cannot decode {codec} (only {', '.join(CPU_CODECS)} without a GPU);"
            " use data.decoder=pyav, decord or torchcodec, or run DALI on a GPU",
        )


def dali_input(path: Path, wanted: List[int]) -> Tuple[np.ndarray, Dict[int, int]]:
    """The bytes DALI decodes for the sorted frames `wanted` of `path` and each frame's index in
    them: the packets from the keyframe before each segment of frames (`remux_segments`, a few ms
    in PyAV) or, when those cannot be cut out exactly, the whole file."""
    remuxed = remux_segments(path, wanted)
    if remuxed is None:
        return np.fromfile(path, dtype=np.uint8), {frame: frame for frame in wanted}
    return remuxed.data, remuxed.rows


def reason(exc: BaseException) -> str:
    """The operator's own message from DALI's multi-line pipeline error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    after = lines[lines.index("encountered:") + 1:] if "encountered:" in lines else lines
    return re.sub(r"^\[[^\]]*\] ", "", after[0]) if after else type(exc).__name__


@register_decoder("dali", module="nvidia.dali", pip=PIP)
class DALIDecoder:
    """One batch-size-1 pipeline per process; `device` None picks "mixed" (NVDEC) when CUDA is there."""

    def __init__(self, device: Optional[str] = None, num_threads: int = 2) -> None:
        dali = import_optional("nvidia.dali", "dali", PIP)
        if device is None:
            device = "mixed" if torch.cuda.is_available() else "cpu"
        if device not in ("cpu", "mixed"):
            raise ValueError(f"DALI video decoding runs on device 'cpu' or 'mixed' (NVDEC), got '{device}'")
        self.device = device
        self.device_id = torch.cuda.current_device() if device == "mixed" else None
        pipe = dali.Pipeline(batch_size=1, num_threads=num_threads, device_id=self.device_id, prefetch_queue_depth=1)
        with pipe:
            encoded = dali.fn.external_source(name="encoded", dtype=dali.types.UINT8, ndim=1)
            frames = dali.fn.external_source(name="frames", dtype=dali.types.INT32, ndim=1)
            pipe.set_outputs(dali.fn.decoders.video(encoded, frames=frames, device=device))
        pipe.build()
        self._pipe = pipe
        self._lock = threading.Lock()  # one request at a time through the pipeline's queues

    def probe(self, path: Path) -> VideoInfo:
        return PyAVDecoder().probe(path)

    def decode(self, path: Path, indices: List[int]) -> torch.Tensor:
        index = stream_index(path)
        check_codec(path, self.device)
        if not indices:
            return torch.empty((0, index.height, index.width, 3), dtype=torch.uint8)
        if max(indices) >= index.num_frames:
            raise DecodeError(path, past_end(max(indices), index.num_frames, " in the video"))
        data, rows = dali_input(path, sorted(set(indices)))
        with self._lock:
            try:
                self._pipe.feed_input("encoded", [data])
                self._pipe.feed_input("frames", [np.asarray([rows[i] for i in indices], dtype=np.int32)])
                (output,) = self._pipe.run()
            except RuntimeError as exc:
                raise DecodeError(path, f"DALI failed: {reason(exc)}") from exc
            return self._to_torch(output.as_tensor())

    def _to_torch(self, tensor: Any) -> torch.Tensor:
        """(1,T,H,W,3) DALI tensor -> (T,H,W,3) torch tensor on the device DALI decoded on."""
        if self.device == "cpu":
            return torch.from_numpy(np.array(tensor)[0])
        from nvidia.dali.plugin.pytorch import feed_ndarray

        out = torch.empty(tensor.shape(), dtype=torch.uint8, device=torch.device("cuda", self.device_id))
        feed_ndarray(tensor, out, cuda_stream=torch.cuda.current_stream(out.device))
        return out[0]
