"""The batched on-device augmentation (videosce/data/device_augment.py) against the per-clip CPU
transform it replaces: the same ClipParams give the same clips.

Tolerance, in normalised units (std 0.225): 1e-4, i.e. 2.3e-5 in [0, 1] pixel units. The two paths
compute the same operations in float32 in a different order (separable vs 2D blur kernel, the hue
rotation's own HSV formulas, batched vs per-clip reductions): measured max 8.5e-6. The nearest wrong
answers are far above it: one grey level is 1/255/0.225 = 0.017, a crop one pixel off, a flip or
a jitter applied in another order moves random-texture pixels by tenths.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from videosce.config import load_config
from videosce.data.datasets import read_index
from videosce.data.device_augment import BatchClipAugment, ClipBatch, DeviceAugment, adjust_hue, collate_deferred, defer_clip, stack_segments
from videosce.data.transforms import TrainClipTransform

from helpers import demo_data, train_dataset

TOLERANCE = 1e-4
SIZES = [(40, 60), (48, 40), (40, 60), (56, 70), (36, 36), (48, 64)]  # a padded batch: every clip has its own size

TRANSFORMS = {
    "every op drawn": dict(jitter_p=1.0, grayscale_p=0.3, blur_p=1.0, solarize_p=1.0, temporal_difference_p=0.5),
    "recipe p": dict(blur_p=0.5, solarize_p=0.2, temporal_difference_p=0.2),
    "short-side crop": dict(short_side=(40, 48), jitter_p=1.0, blur_p=0.5),
    "local view": dict(scale=(0.05, 0.4), jitter_p=1.0, flip_p=0.5),
}


def clips_and_pairs(seed: int, frames: int = 5):
    g = torch.Generator().manual_seed(seed)
    clips = [torch.randint(0, 256, (frames, h, w, 3), dtype=torch.uint8, generator=g) for h, w in SIZES * 2]
    return clips, [(c, torch.randint(0, 256, c.shape, dtype=torch.uint8, generator=g)) for c in clips]


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_batch_equals_the_per_clip_transform_with_the_same_params(name):
    transform = TrainClipTransform(24 if name == "local view" else 32, **TRANSFORMS[name])
    clips, pairs = clips_and_pairs(1)
    raws = [defer_clip(transform, c, np.random.default_rng(i), p) for i, (c, p) in enumerate(zip(clips, pairs))]
    out = BatchClipAugment(transform)(ClipBatch.collate(raws))
    want = torch.stack([transform(c, np.random.default_rng(i), p) for i, (c, p) in enumerate(zip(clips, pairs))])
    assert out.shape == want.shape == (len(clips), 3, 5, transform.size, transform.size)
    assert (out - want).abs().max().item() < TOLERANCE
    drawn = [r.params for r in raws]
    if name == "every op drawn":  # the batch really exercised every operation on some clips and not on others
        assert all(p.jitter and p.sigma and p.solarize for p in drawn)
        assert 0 < sum(p.difference for p in drawn) < len(drawn) and 0 < sum(p.grayscale for p in drawn) < len(drawn)


def test_vclr_view_shares_one_draw_across_its_segments():
    transform = TrainClipTransform(32, jitter_p=1.0, temporal_difference_p=0.5)
    clips, pairs = clips_and_pairs(2)
    raws, want = [], []
    for b in range(3):  # 3 videos, each a view of 2 segment clips of the same size
        mirrored = tuple(f.flip(2) for f in pairs[2 * b])
        segment = [(clips[2 * b], pairs[2 * b]), (mirrored[0], mirrored)]
        raws.append(stack_segments([defer_clip(transform, c, np.random.default_rng(b), p) for c, p in segment]))
        want.append(torch.stack([transform(c, np.random.default_rng(b), p) for c, p in segment]))
    out = BatchClipAugment(transform)(ClipBatch.collate(raws))
    assert out.shape == (3, 2, 3, 5, 32, 32)
    assert (out - torch.stack(want)).abs().max().item() < TOLERANCE


def test_hue_rotation_by_hand():
    """A third of a turn: red -> green -> blue -> red; grey has no hue; half a turn gives the complement."""
    colours = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.5], [0.8, 0.4, 0.2]])
    x = colours.view(5, 1, 3, 1, 1)
    third = adjust_hue(x, torch.full((5,), 1 / 3)).view(5, 3)
    want = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.2, 0.8, 0.4]])
    assert torch.allclose(third, want, atol=1e-6)
    half = adjust_hue(x[4:], torch.tensor([0.5])).view(3)  # hue 20 deg -> 200 deg, same v 0.8 and s 0.75
    assert torch.allclose(half, torch.tensor([0.2, 0.6, 0.8]), atol=1e-6)


SAMPLERS = {
    "random clips": [],
    "time clips + clip gap": ["data.clip_duration=0.5", "data.clip_gap_dist=cvrl"],
    "VCLR segments": ["method.vclr.segments=2"],
    "local views": ["data.local_views=2", "data.local_size=16", "data.local_frames=2"],
}


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_device_items_equal_worker_items_for_every_sampler(demo_root, tmp_path, sampler):
    """The dataset in device mode yields the raw frames and the draws of worker mode: after the
    batched augmentation, the same views (every sampler, temporal difference and blur on)."""
    base = [*demo_data(demo_root), f"output_dir={tmp_path}", "data.temporal_difference_p=0.5", "data.blur_p=[1.0,0.5]",
            "data.solarize_p=[0.0,0.5]", *SAMPLERS[sampler]]
    worker_cfg, device_cfg = load_config(None, base), load_config(None, [*base, "data.augment_on=device"])
    index = read_index(worker_cfg.data, "train")
    local = worker_cfg.data.local_views
    worker = train_dataset(worker_cfg, index, num_clips=2, local_views=local)
    device = train_dataset(device_cfg, index, num_clips=2, local_views=local)
    items = [3, 0, 7, 12]
    want = [torch.stack(view) for view in zip(*[worker[i][0] for i in items])]
    views, _, got_index = collate_deferred([device[i] for i in items])
    got = DeviceAugment(device.transforms, torch.device("cpu"))(views)
    assert got_index.tolist() == items and len(got) == len(want) == 2 + local
    for g, w in zip(got, want):
        assert g.shape == w.shape and (g - w).abs().max().item() < TOLERANCE


def test_training_with_device_augmentation_matches_worker_augmentation(demo_root, tmp_path):
    """Same seed, same data order, same draws: the losses of 3 SCE steps agree (float32 rounding of
    the augmentation, amplified by 3 steps: 1e-4 relative; a different crop or jitter changes the loss
    at the second decimal)."""
    from videosce.jobs.pretrain import run as pretrain

    losses = {}
    for where in ("worker", "device"):
        out = tmp_path / where
        cfg = load_config(None, [*demo_data(demo_root), f"output_dir={out}", "model.backbone=r3d_tiny", "method.queue_size=16",
                                 "trainer.max_epochs=1", "trainer.batch_size=8", "trainer.progress_bar=false", "trainer.log_every_n_steps=1",
                                 "eval.retrieval_at_end=false", "data.temporal_difference_p=0.3", "data.blur_p=[1.0,0.1]",
                                 f"data.augment_on={where}", "trainer.device=cpu"])
        pretrain(cfg)
        rows = (out / "train.csv").read_text().splitlines()
        column = rows[0].split(",").index("loss")
        losses[where] = [float(r.split(",")[column]) for r in rows[1:4]]
    assert len(losses["worker"]) == 3
    assert np.allclose(losses["device"], losses["worker"], rtol=1e-4, atol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_batch_equals_cpu_batch():
    """The same module on the GPU: pinned, copied, augmented there; equal to the CPU result within the
    tolerance (CUDA's interpolate, conv and reductions round differently)."""
    transform = TrainClipTransform(32, **TRANSFORMS["every op drawn"])
    clips, pairs = clips_and_pairs(3)
    raws = [defer_clip(transform, c, np.random.default_rng(i), p) for i, (c, p) in enumerate(zip(clips, pairs))]
    batch = ClipBatch.collate(raws)
    cpu = DeviceAugment([transform], torch.device("cpu"))([batch])[0]
    cuda = DeviceAugment([transform], torch.device("cuda"))([batch.pin_memory()])[0]
    assert cuda.is_cuda and (cuda.cpu() - cpu).abs().max().item() < TOLERANCE
