"""Clip-consistent augmentations: one random draw per clip, applied to all of its frames.

Input clips are uint8 (T,H,W,3) from a decoder; outputs are normalised float (3,T,S,S), the
layout 3D backbones take. Randomness comes from a numpy Generator passed in, so a sample's
augmentation is a function of (seed, epoch, index) and resuming reproduces it.
"""
from __future__ import annotations

import math
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from einops import rearrange, repeat


class Normalization(NamedTuple):
    """Per-channel statistics clips in [0, 1] are normalised with: (x - mean) / std."""

    mean: Tuple[float, float, float]
    std: Tuple[float, float, float]


def to_float_frames(clip: torch.Tensor) -> torch.Tensor:
    """uint8 (T,H,W,3) -> float (T,3,H,W) in [0,1]."""
    return rearrange(clip, "t h w c -> t c h w").float().div_(255.0)


def random_resized_crop_box(
    height: int, width: int, scale: Sequence[float], ratio: Sequence[float], rng: np.random.Generator
) -> Tuple[int, int, int, int]:
    """(top, left, h, w) of a crop covering `scale` of the area with aspect in `ratio` (torchvision's rule)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height  # fallback: central crop at the closest allowed aspect
    w, h = (width, int(round(width / min(ratio)))) if in_ratio < min(ratio) else (width, height)
    if in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    return (height - h) // 2, (width - w) // 2, h, w


def short_side_crop_box(
    height: int, width: int, short_sides: Sequence[int], size: int, rng: np.random.Generator
) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """(resized (h, w), crop (top, left)): the short side scaled to a random integer in [min, max] of
    `short_sides` (the long side floor(long / short * s), pytorchvideo's RandomShortSideScale), then a
    random `size` crop of that (torchvision's RandomCrop): the SCE finetuning protocol's train crop."""
    side = int(rng.integers(short_sides[0], short_sides[1] + 1))
    h, w = (side, int(width / height * side)) if height <= width else (int(height / width * side), side)
    return (h, w), (int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1)))


def resize_frames(frames: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    return F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=True)


def temporal_difference(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """uint8 (..., H,W,3) frame pairs -> uint8 (..., H,W,3): grey(first) - grey(second) shifted to mid-grey.

    The SCE reference's rule on uint8 frames: torchvision's grayscale (truncated to uint8), the
    difference d in [-255, 255], then round((d + 255) / 2); the three channels are equal. Any
    leading dims: one clip (T,H,W,3) or a batch of them (B,T,H,W,3).
    """
    def grey(frames: torch.Tensor) -> torch.Tensor:
        return TF.rgb_to_grayscale(rearrange(frames, "... h w c -> ... c h w")).float()

    shifted = ((grey(first) - grey(second) + 255.0) / 2.0).round_().clamp_(0, 255).to(torch.uint8)
    return repeat(shifted, "... 1 h w -> ... h w c", c=3)


FramePairs = Tuple[torch.Tensor, torch.Tensor]
# the colour jitter operations, by the index ClipParams.jitter names them with
JITTER_OPS: Tuple[Callable[[torch.Tensor, float], torch.Tensor], ...] = (
    TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue,
)


class ClipParams(NamedTuple):
    """Everything one clip's augmentation drew, shared by all of its frames.

    crop: (top, left, h, w) of the crop, in the source frame or, with `resized`, in the frame
    first resized to `resized` (h, w) (the short-side crop; h = w = the output size); jitter: the
    (JITTER_OPS index, factor) pairs in the order they apply, empty when jitter was not drawn;
    sigma: the Gaussian blur's sigma, None for no blur; difference: the clip is replaced by its
    temporal difference before anything else.
    """

    crop: Tuple[int, int, int, int]
    resized: Optional[Tuple[int, int]]
    flip: bool
    jitter: Tuple[Tuple[int, float], ...]
    grayscale: bool
    sigma: Optional[float]
    solarize: bool
    difference: bool


class TrainClipTransform:
    """One view's augmentation, drawn once per clip (the SCE video recipe, docs/recipes.md).

    In the reference's order: temporal difference p (on the decoded uint8 frames, before any crop
    or colour operation, so it sees the native frame rate), random resized crop, flip, colour
    jitter (random order) p, grayscale p, Gaussian blur p, solarize p, normalise. Views differ by
    their blur/solarize p. `draw` makes the random draws, in a fixed order, into a `ClipParams`;
    `apply` runs the operations; `__call__` does both. The batched on-device module
    (videosce/data/device_augment.py) applies the same `ClipParams` to a batch of clips.
    With `short_side` = (min, max) the crop is the finetuning protocol's instead: short side scaled
    to a random integer in [min, max], then a random `size` crop (`short_side_crop_box`).
    """

    def __init__(
        self,
        size: int,
        scale: Sequence[float] = (0.2, 0.766),
        ratio: Sequence[float] = (0.75, 1.333),
        jitter: Sequence[float] = (0.8, 0.8, 0.4, 0.2),
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        flip_p: float = 0.5,
        blur_p: float = 0.0,
        blur_sigma: Sequence[float] = (0.1, 2.0),
        solarize_p: float = 0.0,
        temporal_difference_p: float = 0.0,
        mean: Sequence[float] = (0.45, 0.45, 0.45),
        std: Sequence[float] = (0.225, 0.225, 0.225),
        short_side: Optional[Sequence[int]] = None,
    ) -> None:
        if short_side is not None and not size <= short_side[0] <= short_side[1]:
            raise ValueError(f"short_side must be [min, max] with crop size ({size}) <= min <= max, got {list(short_side)}")
        self.size, self.scale, self.ratio = size, tuple(scale), tuple(ratio)
        self.short_side = None if short_side is None else (int(short_side[0]), int(short_side[1]))
        self.jitter, self.jitter_p, self.grayscale_p, self.flip_p = tuple(jitter), jitter_p, grayscale_p, flip_p
        self.blur_p, self.blur_sigma, self.solarize_p = blur_p, tuple(blur_sigma), solarize_p
        self.temporal_difference_p = temporal_difference_p
        # the recipe's 23-pixel kernel at 224, scaled with the crop size (odd)
        self.blur_kernel = max(3, int(round(size * 23 / 224)) // 2 * 2 + 1)
        self.mean, self.std = list(mean), list(std)

    def _draw_jitter(self, rng: np.random.Generator) -> Tuple[Tuple[int, float], ...]:
        brightness, contrast, saturation, hue = self.jitter
        factors = (
            rng.uniform(max(0.0, 1 - brightness), 1 + brightness),
            rng.uniform(max(0.0, 1 - contrast), 1 + contrast),
            rng.uniform(max(0.0, 1 - saturation), 1 + saturation),
            rng.uniform(-hue, hue),
        )
        return tuple((int(i), float(factors[i])) for i in rng.permutation(len(factors)))

    def draw(self, height: int, width: int, rng: np.random.Generator) -> ClipParams:
        """The clip's random draws for a source of `height` x `width`, in the recipe's fixed order."""
        if self.short_side is None:
            resized, crop = None, random_resized_crop_box(height, width, self.scale, self.ratio, rng)
        else:
            resized, (top, left) = short_side_crop_box(height, width, self.short_side, self.size, rng)
            crop = (top, left, self.size, self.size)
        flip = bool(rng.random() < self.flip_p)
        jitter = self._draw_jitter(rng) if rng.random() < self.jitter_p else ()
        grayscale = bool(rng.random() < self.grayscale_p)
        sigma = float(rng.uniform(*self.blur_sigma)) if rng.random() < self.blur_p else None
        solarize = bool(rng.random() < self.solarize_p)
        difference = bool(rng.random() < self.temporal_difference_p)
        return ClipParams(crop, resized, flip, jitter, grayscale, sigma, solarize, difference)

    def apply(self, clip: torch.Tensor, params: ClipParams, difference_frames: Optional[FramePairs] = None) -> torch.Tensor:
        """uint8 (T,H,W,3) -> normalised float (3,T,S,S) with the drawn `params`."""
        if params.difference:
            if difference_frames is None:
                raise ValueError("the temporal difference needs each frame's partner frames (VideoClipDataset decodes them)")
            clip = temporal_difference(*difference_frames)
        top, left, h, w = params.crop
        x = to_float_frames(clip)
        if params.resized is None:
            x = resize_frames(x[..., top : top + h, left : left + w], (self.size, self.size))
        else:
            x = resize_frames(x, params.resized)[..., top : top + h, left : left + w]
        if params.flip:
            x = x.flip(-1)
        for op, factor in params.jitter:
            x = JITTER_OPS[op](x, factor)
        if params.grayscale:
            x = TF.rgb_to_grayscale(x, num_output_channels=3)
        if params.sigma is not None:
            x = TF.gaussian_blur(x, [self.blur_kernel, self.blur_kernel], [params.sigma, params.sigma])
        if params.solarize:
            x = torch.where(x >= 0.5, 1.0 - x, x)
        x = TF.normalize(x.clamp(0, 1), self.mean, self.std)
        return rearrange(x, "t c h w -> c t h w").contiguous()

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator, difference_frames: Optional[FramePairs] = None) -> torch.Tensor:
        """`clip` uint8 (T,H,W,3); `difference_frames` the (first, second) uint8 frames whose grey
        difference replaces frame t when the temporal difference is drawn (`samplers.difference_pairs`)."""
        return self.apply(clip, self.draw(clip.shape[1], clip.shape[2], rng), difference_frames)


class EvalClipTransform:
    """Resize the short side, cut `num_crops` crops of `size` along the long side, normalise; deterministic.

    num_crops=1: the centre crop, (3,T,S,S). num_crops>1: crops evenly spaced from one end of the
    long side to the other (3 = left/centre/right, or top/centre/bottom for portrait video: the SCE
    test protocol), stacked as (num_crops,3,T,S,S).
    """

    def __init__(
        self, size: int, short_side: int, mean: Sequence[float] = (0.45,) * 3, std: Sequence[float] = (0.225,) * 3, num_crops: int = 1
    ) -> None:
        if short_side < size:
            raise ValueError(f"short_side ({short_side}) must be >= crop size ({size})")
        if num_crops < 1:
            raise ValueError(f"num_crops must be >= 1, got {num_crops}")
        self.size, self.short_side, self.mean, self.std, self.num_crops = size, short_side, list(mean), list(std), num_crops

    @staticmethod
    def crop_offsets(height: int, width: int, size: int, num_crops: int) -> List[Tuple[int, int]]:
        """(top, left) of each crop: centred across the short side, evenly spaced along the long one,
        offsets rounded up (pytorchvideo's `uniform_crop`: 3 crops = 0, ceil(span / 2), span)."""
        top, left = -(-(height - size) // 2), -(-(width - size) // 2)
        if num_crops == 1:
            return [(top, left)]
        span = max(height, width) - size
        along = [-(-span * i // (num_crops - 1)) for i in range(num_crops)]
        return [(top, a) for a in along] if width >= height else [(a, left) for a in along]

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator | None = None) -> torch.Tensor:
        x = to_float_frames(clip)
        h, w = x.shape[-2:]
        # the long side floor(long / short * short_side), pytorchvideo's ShortSideScale
        resized = (self.short_side, int(w / h * self.short_side)) if h <= w else (int(h / w * self.short_side), self.short_side)
        x = resize_frames(x, resized)
        x = TF.normalize(x.clamp(0, 1), self.mean, self.std)
        crops = [
            rearrange(x[..., top : top + self.size, left : left + self.size], "t c h w -> c t h w")
            for top, left in self.crop_offsets(x.shape[-2], x.shape[-1], self.size, self.num_crops)
        ]
        return crops[0].contiguous() if self.num_crops == 1 else torch.stack(crops)
