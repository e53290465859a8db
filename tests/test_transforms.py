import numpy as np
import torch

from videosce.data.transforms import EvalClipTransform, TrainClipTransform, random_resized_crop_box, temporal_difference


def moving_clip(t=8, h=64, w=80):
    """A clip whose frames differ only by a moving bright bar, so per-frame geometry can be checked."""
    clip = torch.zeros(t, h, w, 3, dtype=torch.uint8)
    clip[..., 0] = torch.arange(w, dtype=torch.uint8)[None, None, :] * 3
    clip[..., 1] = torch.arange(h, dtype=torch.uint8)[None, :, None] * 3
    return clip


def test_crop_box_inside_and_scale_respected():
    rng = np.random.default_rng(0)
    for _ in range(200):
        top, left, h, w = random_resized_crop_box(64, 80, (0.2, 0.766), (0.75, 1.333), rng)
        assert 0 <= top and top + h <= 64 and 0 <= left and left + w <= 80
        assert 0.15 <= h * w / (64 * 80) <= 0.8


def test_same_geometry_for_all_frames_of_a_clip_and_different_between_clips():
    clip = moving_clip()
    transform = TrainClipTransform(32, jitter_p=0.0, grayscale_p=0.0)
    rng = np.random.default_rng(0)
    a, b = transform(clip, rng), transform(clip, rng)
    assert a.shape == (3, 8, 32, 32)
    # frames are identical in the input, so every output frame must be identical too
    assert torch.allclose(a[:, 0], a[:, -1]) and torch.allclose(b[:, 0], b[:, -1])
    assert not torch.allclose(a, b)


def test_colour_jitter_and_grayscale_are_per_clip():
    clip = moving_clip()
    transform = TrainClipTransform(32, jitter_p=1.0, grayscale_p=1.0, flip_p=0.0, scale=(1.0, 1.0), ratio=(1.25, 1.25))
    out = transform(clip, np.random.default_rng(1))
    assert torch.allclose(out[0], out[1]) and torch.allclose(out[1], out[2])  # grayscale
    assert torch.allclose(out[:, 0], out[:, 5], atol=1e-5)  # same jitter on every frame


def test_deterministic_for_a_given_generator_state():
    clip = moving_clip()
    transform = TrainClipTransform(32)
    assert torch.equal(transform(clip, np.random.default_rng(5)), transform(clip, np.random.default_rng(5)))


def test_eval_transform_centre_crop():
    out = EvalClipTransform(32, 40)(moving_clip())
    assert out.shape == (3, 8, 32, 32)
    assert torch.equal(out, EvalClipTransform(32, 40)(moving_clip()))


def test_blur_solarize_and_temporal_difference():
    clip = moving_clip()
    plain = TrainClipTransform(32, jitter_p=0.0, grayscale_p=0.0, flip_p=0.0, scale=(1.0, 1.0), ratio=(1.25, 1.25))
    blurred = TrainClipTransform(32, jitter_p=0.0, grayscale_p=0.0, flip_p=0.0, scale=(1.0, 1.0), ratio=(1.25, 1.25), blur_p=1.0)
    a, b = plain(clip, np.random.default_rng(0)), blurred(clip, np.random.default_rng(0))
    assert a.shape == b.shape and not torch.allclose(a, b)
    solarized = TrainClipTransform(32, jitter_p=0.0, grayscale_p=0.0, flip_p=0.0, scale=(1.0, 1.0), ratio=(1.25, 1.25), solarize_p=1.0)
    s = solarized(clip, np.random.default_rng(0)) * 0.225 + 0.45
    assert s.max() <= 0.5 + 1e-5  # every value >= 0.5 was inverted
    still = TrainClipTransform(32, jitter_p=0.0, grayscale_p=0.0, flip_p=0.0, temporal_difference_p=1.0)
    d = still(clip, np.random.default_rng(0), difference_frames=(clip, clip)) * 0.225 + 0.45
    assert torch.allclose(d, torch.full_like(d, 128 / 255), atol=1e-5)  # static clip: zero difference, round(255 / 2) = 128


def test_temporal_difference_by_hand():
    """grey (truncated) 18 and 48: round((18 - 48 + 255) / 2) = round(112.5) = 112 (half to even, as torch rounds)."""
    first = torch.tensor([10, 20, 30], dtype=torch.uint8).expand(2, 3, 4, 3)  # 0.2989*10 + 0.587*20 + 0.114*30 = 18.15
    second = torch.tensor([40, 50, 60], dtype=torch.uint8).expand(2, 3, 4, 3)  # 48.15
    out = temporal_difference(first, second)
    assert out.dtype == torch.uint8 and out.shape == (2, 3, 4, 3) and (out == 112).all()
    assert (temporal_difference(second, first) == 142).all()  # round((48 - 18 + 255) / 2) = round(142.5) = 142


def test_short_side_jitter_then_random_crop():
    """The finetuning crop: short side scaled to a random integer in [min, max] (long side floor(long / short * s),
    pytorchvideo's rule), then a random `size` crop. Oracle: every sampled side appears, boxes stay inside, and
    the output equals some size x size window of the frame resized with F.interpolate (upscaling: bilinear)."""
    from videosce.data.transforms import short_side_crop_box

    rng = np.random.default_rng(0)
    sides = set()
    for _ in range(400):
        (h, w), (top, left) = short_side_crop_box(240, 320, (256, 260), 224, rng)
        sides.add(h)
        assert w == int(320 / 240 * h) and 0 <= top <= h - 224 and 0 <= left <= w - 224
    assert sides == {256, 257, 258, 259, 260}
    (h, w), _ = short_side_crop_box(320, 240, (256, 256), 224, rng)
    assert (h, w) == (341, 256)  # portrait: the width is the short side

    clip = moving_clip(t=2, h=48, w=64)
    transform = TrainClipTransform(32, short_side=(64, 64), jitter_p=0.0, grayscale_p=0.0, flip_p=0.0, mean=(0.0,) * 3, std=(1.0,) * 3)
    out = transform(clip, np.random.default_rng(3)).permute(1, 0, 2, 3)  # (T,3,32,32) in [0, 1]
    resized = torch.nn.functional.interpolate(clip.permute(0, 3, 1, 2).float() / 255, size=(64, 85), mode="bilinear", align_corners=False)
    windows = [resized[..., t : t + 32, l : l + 32] for t in range(64 - 31) for l in range(85 - 31)]
    assert min((out - window).abs().max().item() for window in windows) < 1e-5
