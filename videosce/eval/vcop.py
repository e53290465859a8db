"""The VCOP retrieval protocol (Xu et al., CVPR 2019, `retrieve_clips.py`; docs/protocols.md).

Split 1; gallery = train list, queries = test list; 10 clips of 16 consecutive frames per video,
starts int(c - 8) for centres c = linspace(8, len - 8, 10); frames resized to 128x171, centre
crop 112; features = last feature map max-pooled (1,2,2) and flattened, averaged over the 10
clips; cosine; hit at k when a top-k gallery video shares the query's class; k in 1, 5, 10, 20, 50.
Two deliberate differences from its code: every video is used (its drop_last loses up to 7), and
clips are normalised with the mean/std the checkpoint was trained with (VCOP's networks were
trained on [0, 1] values, ours are not: feeding them raw pixels would shift every BatchNorm input).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from einops import rearrange
from torch import nn

from videosce.config.rules import VCOP_SPLIT as SPLIT
from videosce.data.datasets import VideoClipDataset, VideoRecord
from videosce.data.decoders import decode_frames
from videosce.data.samplers import clip_indices
from videosce.data.transforms import resize_frames, to_float_frames

CLIPS = 10
FRAMES = 16
RESIZE = (128, 171)
CROP = 112
POOL = (1, 2, 2)
KS = (1, 5, 10, 20, 50)


def protocol(mean: Sequence[float], std: Sequence[float]) -> Dict[str, Any]:
    """What the protocol makes of a video, for the feature cache's key."""
    return {"name": "vcop", "split": SPLIT, "clips": CLIPS, "frames": FRAMES, "resize": RESIZE, "crop": CROP, "pool": POOL,
            "mean": list(mean), "std": list(std)}


def clip_starts(num_frames: int, clips: int = CLIPS, length: int = FRAMES) -> List[int]:
    """First frame of each clip: int(c - length/2) for c = linspace(length/2, num_frames - length/2, clips)."""
    return [int(c - length / 2) for c in np.linspace(length / 2, num_frames - length / 2, clips)]


class VcopClipTransform:
    """uint8 (T,H,W,3) -> (3,T,112,112): resize to 128x171 (aspect not kept), centre crop 112, normalise.

    Like torchvision's PIL path: bilinear with antialias, rounded to uint8 levels, crop offsets
    int(round((171 - 112) / 2)) = 30 and int(round((128 - 112) / 2)) = 8; then (x - mean) / std
    with the checkpoint's training statistics.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean, self.std = list(mean), list(std)

    def __call__(self, clip: torch.Tensor, rng: Optional[np.random.Generator] = None) -> torch.Tensor:
        top, left = int(round((RESIZE[0] - CROP) / 2)), int(round((RESIZE[1] - CROP) / 2))
        x = resize_frames(to_float_frames(clip), RESIZE)[..., top : top + CROP, left : left + CROP]
        x = TF.normalize(x.clamp(0, 1).mul_(255).round_().div_(255), self.mean, self.std)
        return rearrange(x, "t c h w -> c t h w").contiguous()


class VcopDataset(VideoClipDataset):
    """Eval items of (10,3,16,112,112) clips at the VCOP positions; videos shorter than 16 frames
    (none in UCF101 / HMDB51) start at 0 and repeat their last frame, the samplers' rule."""

    def __init__(self, records: List[VideoRecord], mean: Sequence[float], std: Sequence[float], **options: Any) -> None:
        """`options`: VideoClipDataset's decoder and bad-file arguments (builders.video_checks)."""
        self.clip_transform = VcopClipTransform(mean, std)
        super().__init__(records, self.clip_transform, FRAMES, 1, CLIPS, train=False, **options)

    def load_clips(self, index: int) -> List[torch.Tensor]:
        record = self.records[index]
        num_frames = self.probe(index).num_frames
        clips = [clip_indices(max(start, 0), FRAMES, 1, num_frames) for start in clip_starts(num_frames)]
        wanted = sorted({i for clip in clips for i in clip})
        frames = self.clip_transform(decode_frames(record.path, wanted, backend=self.decoder, timeout_s=self.timeout_s))  # per frame: once each
        position = {frame: row for row, frame in enumerate(wanted)}
        return [frames[:, [position[i] for i in clip]] for clip in clips]


def vcop_pool(backbone: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """Last feature map max-pooled with kernel (1,2,2), flattened: (B, C*T'*(H'/2)*(W'/2))."""
    return rearrange(F.max_pool3d(backbone.forward_features(clips), kernel_size=POOL), "b c t h w -> b (c t h w)")
