"""Clip-gap control (data.clip_gap*): the CVRL interval density checked against its definition
(Qian et al., CVPR 2021: P(t) ∝ c - t on [0, T], c >= T) by KS statistics, views inside the video,
and a dataset + tiny model run on the generated demo videos."""
import numpy as np
import pytest
import torch

from videosce.config import ConfigError, load_config
from videosce.data.datasets import read_index
from videosce.data.samplers import (ClipGap, clip_span, random_clips, random_time_clips, sample_frame_gaps, sample_gaps,
                                    time_clip_indices)
from videosce.methods import build_method

from helpers import demo_data, train_dataset

N = 20000
KS_999 = 1.95 / np.sqrt(N)  # one-sample KS critical value at the 0.1% level


def numeric_cdf(low, high, density):
    """CDF of `density` on [low, high] by trapezoid integration on a fine grid (not the sampler's closed form)."""
    grid = np.linspace(low, high, 40001)
    values = density(grid)
    mass = np.concatenate([[0.0], np.cumsum((values[1:] + values[:-1]) / 2 * np.diff(grid))])
    return lambda t: np.interp(t, grid, mass / mass[-1])


def ks_statistic(samples, cdf):
    x = np.sort(samples)
    n = len(x)
    f = cdf(x)
    return max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))


@pytest.mark.parametrize(
    "max_gap,gap,low,high",
    [
        (10.0, ClipGap(), 0.0, 10.0),  # CVRL's setting: [0, T], c = T (the triangle)
        (10.0, ClipGap(2.0, 6.0), 2.0, 6.0),  # the density restricted to the bounds
        (3.5, ClipGap(c_scale=2.0), 0.0, 3.5),  # c = 2T: flatter
        (4.0, ClipGap(1.0, 100.0, c_scale=1.5), 1.0, 4.0),  # max capped at T
    ],
)
def test_cvrl_gaps_follow_the_linear_density(max_gap, gap, low, high):
    c = gap.c_scale * max_gap
    gaps = sample_gaps(max_gap, gap, N, np.random.default_rng(0))
    assert gaps.min() >= low and gaps.max() <= high
    assert ks_statistic(gaps, numeric_cdf(low, high, lambda t: c - t)) < KS_999


def test_uniform_gaps_and_the_wrong_distribution_is_detected():
    gaps = sample_gaps(10.0, ClipGap(1.0, 7.0, "uniform"), N, np.random.default_rng(1))
    assert ks_statistic(gaps, numeric_cdf(1.0, 7.0, np.ones_like)) < KS_999
    cvrl = sample_gaps(10.0, ClipGap(1.0, 7.0, "cvrl"), N, np.random.default_rng(1))
    assert ks_statistic(cvrl, numeric_cdf(1.0, 7.0, np.ones_like)) > 5 * KS_999  # the test has power


def test_cvrl_with_c_equal_t_is_the_gap_of_two_independent_uniform_starts():
    """|U1 - U2| for U1, U2 ~ U[0, T] has density 2 (T - t) / T^2: CVRL at c = T, drawn another way."""
    rng = np.random.default_rng(2)
    independent = np.abs(rng.uniform(0, 8.0, N) - rng.uniform(0, 8.0, N))
    cvrl = np.sort(sample_gaps(8.0, ClipGap(), N, rng))
    grid = np.linspace(0, 8.0, 2001)
    two_sample = np.max(np.abs(np.searchsorted(np.sort(independent), grid) - np.searchsorted(cvrl, grid))) / N
    assert two_sample < 1.95 * np.sqrt(2 / N)


@pytest.mark.parametrize("max_gap,gap", [(12, ClipGap()), (12, ClipGap(3, 9)), (30, ClipGap(0, 30, "uniform")), (7, ClipGap(2.5, 4.5, c_scale=3))])
def test_frame_gaps_are_exact_draws_of_the_discrete_density(max_gap, gap):
    gaps = sample_frame_gaps(max_gap, gap, 60000, np.random.default_rng(3))
    ks = np.arange(int(np.ceil(gap.low)), int(min(np.floor(gap.high), max_gap)) + 1)
    pmf = (gap.c_scale * max_gap - ks) if gap.distribution == "cvrl" else np.ones(len(ks))
    pmf = pmf / pmf.sum()
    counts = np.array([(gaps == k).sum() for k in ks]) / len(gaps)
    assert set(np.unique(gaps)) <= set(ks.tolist())
    assert np.abs(counts - pmf).max() < 0.01


@pytest.mark.parametrize(
    "num_frames,frames,stride,gap",
    [(100, 8, 4, ClipGap(5, 20)), (100, 8, 4, ClipGap(0, 1000, "uniform")), (40, 8, 2, ClipGap(30, 40)), (15, 8, 2, ClipGap(3, 6)), (1, 4, 1, ClipGap(2, 5))],
)
def test_gapped_frame_clips_stay_inside_with_the_gap_in_bounds(num_frames, frames, stride, gap):
    longest = max(num_frames - clip_span(frames, stride), 0)
    rng = np.random.default_rng(4)
    for _ in range(200):
        clips = random_clips(num_frames, frames, stride, 3, rng, gap=gap)
        for clip in clips:
            assert len(clip) == frames and all(0 <= i < num_frames for i in clip)
        if num_frames >= clip_span(frames, stride):
            for clip in clips[1:]:  # view k starts `gap` after view 0, the bounds capped at the longest gap
                assert min(gap.low, longest) <= clip[0] - clips[0][0] <= min(gap.high, longest)
        else:  # short video: both at frame 0, padded with the last frame (the samplers' rule)
            assert all(clip[0] == 0 and clip[-1] == num_frames - 1 for clip in clips)


def test_gapped_time_clips_stay_inside_with_the_gap_in_bounds():
    fps, times = 25, np.arange(250) / 25  # 10 s
    rng = np.random.default_rng(5)
    for gap in (ClipGap(1.0, 3.0), ClipGap(0.0, 2.0, "uniform"), ClipGap(9.0, 20.0)):
        for _ in range(200):
            a, b = random_time_clips(times, 2.56, 8, 2, rng, gap=gap)
            assert 0 <= a[0] and b[-1] < len(times)
            seconds = (b[0] - a[0]) / fps  # start frames are the starts floored to the frame grid
            assert min(gap.low, 10 - 2.56) - 1 / fps <= seconds <= min(gap.high, 10 - 2.56) + 1 / fps
    short = np.arange(10) / 25
    assert random_time_clips(short, 2.56, 4, 2, rng, gap=ClipGap(1.0, 2.0)) == [time_clip_indices(short, 0.0, 2.56, 4)] * 2


def test_without_a_gap_the_random_stream_is_unchanged():
    starts = np.random.default_rng(6).integers(0, 100 - 29 + 1, size=3)  # the pre-gap rule: independent uniform starts
    assert [c[0] for c in random_clips(100, 8, 4, 3, np.random.default_rng(6))] == starts.tolist()


@pytest.mark.parametrize(
    "override,key",
    [("data.clip_gap_dist=gauss", "data.clip_gap_dist"), ("data.clip_gap=[5,2]", "data.clip_gap"), ("data.clip_gap=[0,2]", "data.clip_gap"),
     ("data.clip_gap_c=0.5", "data.clip_gap_c")],
)
def test_bad_clip_gap_config_names_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, ["data.video_root=v", "data.split_dir=s", override])


def gap_config(root, *overrides):
    return load_config(None, demo_data(root) + ["model.backbone=r3d_tiny", "model.proj_hidden_dim=32", "model.proj_dim=8",
                                                "model.pred_hidden_dim=32", "method.queue_size=16", "data.num_views=2"] + list(overrides))


def test_dataset_default_is_off_and_gap_config_reaches_the_sampler(demo_root, tmp_path):
    cfg = gap_config(demo_root, f"output_dir={tmp_path}")
    dataset = train_dataset(cfg, read_index(cfg.data, "train"), 2)
    assert dataset.clip_gap is None and dataset.segments == 0
    # 16-frame demo videos, clips of 4 frames at stride 2 (span 7): the longest gap is 9 frames
    cfg = gap_config(demo_root, f"output_dir={tmp_path}", "data.clip_gap_dist=cvrl", "data.clip_gap=[3,6]")
    dataset = train_dataset(cfg, read_index(cfg.data, "train"), 2)
    assert dataset.clip_gap == ClipGap(3.0, 6.0, "cvrl", 1.0)
    for index in range(len(dataset)):
        a, b = dataset.sample_clips(index, np.random.default_rng(index))
        assert 3 <= b[0] - a[0] <= 6 and a[-1] - a[0] == 6 and b[-1] <= 15


def test_time_based_gap_on_demo_videos(demo_root, tmp_path):
    cfg = gap_config(demo_root, f"output_dir={tmp_path}", "data.clip_duration=0.25", "data.clip_gap_dist=uniform", "data.clip_gap=[0.5,1.0]")
    dataset = train_dataset(cfg, read_index(cfg.data, "train"), 2)
    for index in range(5):  # 16 fps, 1 s: a 0.25 s window starts in [0, 0.75] s, the gap capped at 0.75 s
        a, b = dataset.sample_clips(index, np.random.default_rng(index))
        assert 0.5 - 1 / 16 <= (b[0] - a[0]) / 16 <= 0.75 + 1 / 16 and b[-1] <= 15


@pytest.mark.parametrize("name", ["sce", "moco", "simclr"])
def test_gapped_views_train_a_tiny_model(demo_root, tmp_path, name):
    cfg = gap_config(demo_root, f"output_dir={tmp_path}", "data.clip_gap_dist=cvrl", f"method.name={name}")
    dataset = train_dataset(cfg, read_index(cfg.data, "train"), 2)
    items = [dataset[0], dataset[1]]
    views = [torch.stack([item[0][v] for item in items]) for v in range(2)]
    assert views[0].shape == (2, 3, 4, 24, 24)
    torch.manual_seed(0)
    model = build_method(cfg.model, cfg.method)
    loss = model(views)["loss"]
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.backbone.parameters())
