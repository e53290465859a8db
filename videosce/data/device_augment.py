"""The training augmentation on a batch, on whatever device the batch lives on (`data.augment_on=device`).

Why: per-clip CPU augmentation in the loader workers is what starves a GPU when many GPUs share
the CPUs (SCE's reference decodes on CPU workers and augments on the GPU in batches). Here the
workers (or the DALI pipeline) only decode; each item carries its clips as uint8 frames plus the
`ClipParams` that `TrainClipTransform.draw` drew from the same (seed, epoch, index) generator as
worker augmentation would, and `DeviceAugment` applies them to the whole batch: the same clips
as `TrainClipTransform.apply` (tests/test_device_augment.py measures the difference).

Layout: `RawClip` is one view of one video; `ClipBatch.collate` stacks a view over the batch
(frames padded to the batch's largest, uint8, so a host-to-device copy moves a quarter of the
float bytes) and packs the per-sample parameters into two small tensors so that the device
never has to tell the host anything (no synchronisation inside the augmentation). The crop and
resize run per sample (each clip has its own box; torch's antialiased bilinear resize, as the
CPU path); every other operation runs once per batch on the samples that drew it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

from .transforms import ClipParams, FramePairs, TrainClipTransform, temporal_difference

LUMA = (0.2989, 0.587, 0.114)  # ITU-R 601-2 weights, torchvision's grayscale
NEUTRAL = (1.0, 1.0, 1.0, 0.0, 1.0)  # brightness, contrast, saturation, hue, sigma of a sample that did not draw them


@dataclass
class RawClip:
    """One view of one video before augmentation: uint8 (T,H,W,3) frames, or (S,T,H,W,3) for a VCLR
    view whose S clips share one draw; with `params.difference`, `frames` are the first and `partner`
    the second frames of each temporal-difference pair (`samplers.difference_pairs`)."""

    frames: torch.Tensor
    partner: Optional[torch.Tensor]
    params: ClipParams


def defer_clip(transform: TrainClipTransform, clip: torch.Tensor, rng: np.random.Generator,
               difference_frames: Optional[FramePairs] = None) -> RawClip:
    """What `transform(clip, rng, difference_frames)` would augment, with its draws, left for the device."""
    params = transform.draw(clip.shape[-3], clip.shape[-2], rng)
    if not params.difference:
        return RawClip(clip, None, params)
    if difference_frames is None:
        raise ValueError("the temporal difference needs each frame's partner frames (VideoClipDataset decodes them)")
    return RawClip(difference_frames[0], difference_frames[1], params)


def stack_segments(raws: Sequence[RawClip]) -> RawClip:
    """A VCLR view: its S clips (drawn from one seed, hence equal params) as one (S,T,H,W,3) RawClip."""
    partner = torch.stack([r.partner for r in raws]) if raws[0].partner is not None else None
    return RawClip(torch.stack([r.frames for r in raws]), partner, raws[0].params)


def _pad_stack(frames: Sequence[torch.Tensor], height: int, width: int) -> torch.Tensor:
    """(…,H_i,W_i,3) uint8 tensors -> one (N,…,height,width,3) tensor, zero-padded at the bottom and
    right; stacked by torch's default_collate, which writes straight into shared memory in a
    DataLoader worker (no second copy on the way to the training process)."""
    padded = [f if f.shape[-3:-1] == (height, width) else F.pad(f, (0, 0, 0, width - f.shape[-2], 0, height - f.shape[-3])) for f in frames]
    return default_collate(padded)


@dataclass
class ClipBatch:
    """One view of a batch, ready for `BatchClipAugment`.

    frames: uint8 (N,T,H,W,3), N = B clips (B*S for VCLR views, segments = S), padded;
    partners: uint8 (K,T,H,W,3) second frames of the K clips that drew the temporal difference;
    params / sizes: each clip's ClipParams and its own (h, w) inside the padding (host side);
    factors: float (N,5) brightness, contrast, saturation, hue, blur sigma (neutral when not drawn);
    index: int64 sample indices of every operation's group, `groups[name]` = its (start, stop).
    """

    frames: torch.Tensor
    partners: Optional[torch.Tensor]
    params: List[ClipParams]
    sizes: List[Tuple[int, int]]
    factors: torch.Tensor
    index: torch.Tensor
    groups: Dict[str, Tuple[int, int]]
    segments: int = 0

    @classmethod
    def collate(cls, raws: Sequence[RawClip]) -> "ClipBatch":
        segments = raws[0].frames.shape[0] if raws[0].frames.ndim == 5 else 0
        clips = [c for r in raws for c in (r.frames.unbind(0) if segments else (r.frames,))]
        partners = [c for r in raws if r.partner is not None for c in (r.partner.unbind(0) if segments else (r.partner,))]
        params = [r.params for r in raws for _ in range(max(segments, 1))]
        factors = torch.tensor([_factors(p) for p in params], dtype=torch.float32)
        members: Dict[str, List[int]] = {"flip": [], "grayscale": [], "blur": [], "solarize": [], "difference": []}
        for position in range(4):
            for op in range(4):
                members[f"jitter{position}{op}"] = []
        for i, p in enumerate(params):
            for name, drawn in (("flip", p.flip), ("grayscale", p.grayscale), ("blur", p.sigma is not None),
                                ("solarize", p.solarize), ("difference", p.difference)):
                if drawn:
                    members[name].append(i)
            for position, (op, _) in enumerate(p.jitter):
                members[f"jitter{position}{op}"].append(i)
        height, width = max(c.shape[-3] for c in clips), max(c.shape[-2] for c in clips)
        groups, flat = {}, []
        for name, rows in members.items():
            groups[name] = (len(flat), len(flat) + len(rows))
            flat += rows
        return cls(
            _pad_stack(clips, height, width), _pad_stack(partners, height, width) if partners else None, params, [tuple(c.shape[-3:-1]) for c in clips],
            factors, torch.tensor(flat, dtype=torch.int64), groups, segments,
        )

    def to(self, device: torch.device, non_blocking: bool = True) -> "ClipBatch":
        moved = {k: getattr(self, k).to(device, non_blocking=non_blocking) for k in ("frames", "factors", "index")}
        partners = None if self.partners is None else self.partners.to(device, non_blocking=non_blocking)
        return replace(self, partners=partners, **moved)

    def pin_memory(self) -> "ClipBatch":
        """DataLoader(pin_memory=True) calls this, so the copy to the GPU can overlap the step."""
        pinned = {k: getattr(self, k).pin_memory() for k in ("frames", "factors", "index")}
        return replace(self, partners=None if self.partners is None else self.partners.pin_memory(), **pinned)

    def rows(self, name: str) -> Optional[torch.Tensor]:
        """Indices of the samples in group `name` (a view of `index`), None when it is empty."""
        start, stop = self.groups[name]
        return self.index[start:stop] if stop > start else None


def _factors(p: ClipParams) -> Tuple[float, ...]:
    values = list(NEUTRAL)
    for op, factor in p.jitter:
        values[op] = factor
    if p.sigma is not None:
        values[4] = p.sigma
    return tuple(values)


def collate_deferred(items: Sequence[Tuple[List[RawClip], int, int]]) -> Tuple[List[ClipBatch], torch.Tensor, torch.Tensor]:
    """DataLoader collate for `augment_on=device` items (views, label, index): one ClipBatch per view."""
    views, labels, indices = zip(*items)
    return [ClipBatch.collate(list(view)) for view in zip(*views)], torch.tensor(labels), torch.tensor(indices)


# ---- batched colour operations: x (N,T,3,H,W) float in [0, 1], f (N,) per-sample factors


def _luma(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(dim=-3)
    return r.mul(LUMA[0]).add_(g, alpha=LUMA[1]).add_(b, alpha=LUMA[2]).unsqueeze(-3)


def _per_sample(f: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return f.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))


def _blend(x: torch.Tensor, other: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    f = _per_sample(f, x)
    return x.mul(f).add_(other * (1.0 - f)).clamp_(0.0, 1.0)


def adjust_brightness(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return (x * _per_sample(f, x)).clamp_(0.0, 1.0)


def adjust_contrast(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Blend with each frame's mean grey level (torchvision's rule applied to a (T,3,H,W) clip)."""
    return _blend(x, _luma(x).mean(dim=(-3, -2, -1), keepdim=True), f)


def adjust_saturation(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    return _blend(x, _luma(x), f)


def adjust_hue(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Rotate the hue by f turns, keeping HSV's value v and saturation s: with chroma c = v - min
    (= s v) and h6 the hue in sextants, channel n (5, 3, 1 for r, g, b) is
    v - c clamp(min(k, 4 - k), 0, 1), k = (n + h6 + 6 f) mod 6 (the sector formula of HSV -> RGB)."""
    r, g, b = x.unbind(dim=-3)
    low, value = torch.aminmax(x, dim=-3)
    chroma = value - low
    inverse = chroma.reciprocal().masked_fill_(chroma == 0, 0.0)  # grey pixels: any hue, no change
    sextant = torch.where(value == r, (g - b) * inverse, torch.where(value == g, (b - r) * inverse + 2.0, (r - g) * inverse + 4.0))
    sextant = sextant.unsqueeze(-3) + 6.0 * _per_sample(f, x)
    n = torch.tensor([5.0, 3.0, 1.0], dtype=x.dtype, device=x.device).view(3, 1, 1)
    k = (sextant + n).remainder_(6.0)
    amount = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
    return value.unsqueeze(-3) - chroma.unsqueeze(-3) * amount


JITTER = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)  # the order of transforms.JITTER_OPS


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, kernel: int) -> torch.Tensor:
    """Per-sample sigma, `kernel` taps, reflect padding, separable (rows then columns): torchvision's
    2D kernel is the outer product of the same 1D kernel exp(-i^2 / 2 sigma^2), normalised."""
    n, t, c, h, w = x.shape
    taps = torch.arange(kernel, dtype=x.dtype, device=x.device) - kernel // 2
    weights = torch.exp(-0.5 * (taps / _per_sample(sigma, taps[None])) ** 2)
    weights = (weights / weights.sum(dim=1, keepdim=True)).repeat_interleave(t * c, dim=0)
    planes = F.pad(x.reshape(1, n * t * c, h, w), [kernel // 2] * 4, mode="reflect")
    planes = F.conv2d(planes, weights.view(-1, 1, 1, kernel), groups=n * t * c)
    planes = F.conv2d(planes, weights.view(-1, 1, kernel, 1), groups=n * t * c)
    return planes.view(n, t, c, h, w)


class BatchClipAugment:
    """`TrainClipTransform.apply` for a whole `ClipBatch`: (N,…) uint8 -> (B,3,T,S,S) normalised float,
    (B,S,3,T,S,S) for VCLR views; runs on the batch's device."""

    def __init__(self, transform: TrainClipTransform) -> None:
        self.size, self.blur_kernel = transform.size, transform.blur_kernel
        self.mean, self.std = transform.mean, transform.std

    def __call__(self, batch: ClipBatch) -> torch.Tensor:
        frames = batch.frames
        rows = batch.rows("difference")
        if rows is not None:
            frames = frames.index_copy(0, rows, temporal_difference(frames.index_select(0, rows), batch.partners))
        x = torch.stack([self._crop(frames[i], p, batch.sizes[i]) for i, p in enumerate(batch.params)])
        x = self._on(batch, "flip", x, lambda part, _: part.flip(-1))
        for position in range(4):
            for op, adjust in enumerate(JITTER):
                x = self._on(batch, f"jitter{position}{op}", x, lambda part, f, op=op, adjust=adjust: adjust(part, f[:, op]))
        x = self._on(batch, "grayscale", x, lambda part, _: _luma(part).expand_as(part))
        x = self._on(batch, "blur", x, lambda part, f: gaussian_blur(part, f[:, 4], self.blur_kernel))
        x = self._on(batch, "solarize", x, lambda part, _: torch.where(part >= 0.5, 1.0 - part, part))
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(3, 1, 1)
        x = ((x.clamp_(0.0, 1.0) - mean) / std).transpose(1, 2)
        if batch.segments:
            x = x.unflatten(0, (-1, batch.segments))
        return x.contiguous()

    def _crop(self, clip: torch.Tensor, p: ClipParams, size: Tuple[int, int]) -> torch.Tensor:
        """uint8 (T,H,W,3) -> float (T,3,S,S) in [0, 1]: the crop, resized (the CPU path's order)."""
        top, left, h, w = p.crop
        x = clip[:, : size[0], : size[1]].permute(0, 3, 1, 2)
        if p.resized is None:
            x = x[..., top : top + h, left : left + w].float().div_(255.0)
            return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        x = F.interpolate(x.float().div_(255.0), size=p.resized, mode="bilinear", align_corners=False, antialias=True)
        return x[..., top : top + h, left : left + w]

    @staticmethod
    def _on(batch: ClipBatch, group: str, x: torch.Tensor, op) -> torch.Tensor:
        """x with `op(x[rows], factors[rows])` written back (in place) at the rows of `group`."""
        rows = batch.rows(group)
        if rows is None:
            return x
        return x.index_copy_(0, rows, op(x.index_select(0, rows), batch.factors.index_select(0, rows)))


class DeviceAugment:
    """The training views of a batch augmented on `device`: view n of the batch through the
    transform of view n (cycled, like VideoClipDataset's transforms)."""

    def __init__(self, transforms: Sequence[TrainClipTransform], device: torch.device) -> None:
        self.augments = [BatchClipAugment(t) for t in transforms]
        self.device = device

    @torch.no_grad()
    def __call__(self, views: Sequence[ClipBatch]) -> List[torch.Tensor]:
        return [self.augments[n % len(self.augments)](view.to(self.device)) for n, view in enumerate(views)]
