import numpy as np
import pytest

from videosce.data.samplers import clip_indices, clip_span, random_clips, uniform_clips


@pytest.mark.parametrize("num_frames,frames,stride", [(100, 8, 4), (32, 8, 2), (15, 8, 2), (3, 8, 4), (1, 4, 1), (29, 8, 4)])
def test_random_clips_stay_inside_and_keep_the_stride(num_frames, frames, stride):
    rng = np.random.default_rng(0)
    for clip in random_clips(num_frames, frames, stride, 5, rng):
        assert len(clip) == frames
        assert all(0 <= i < num_frames for i in clip)
        steps = np.diff(clip)
        if num_frames >= clip_span(frames, stride):
            assert (steps == stride).all()
        else:  # short video: the documented rule pads with the last frame
            assert clip[-1] == num_frames - 1 and (steps >= 0).all()


def test_random_clip_starts_cover_the_video_and_differ_between_views():
    rng = np.random.default_rng(0)
    starts = [random_clips(100, 8, 4, 2, rng) for _ in range(300)]
    firsts = {c[0][0] for c in starts}
    assert min(firsts) == 0 and max(firsts) == 100 - clip_span(8, 4)
    assert any(a[0] != b[0] for a, b in starts)


def test_uniform_clips_hand_computed():
    # span 29 in 100 frames: starts linspace(0, 71, 3) = 0, 35.5 -> 36, 71
    assert [c[0] for c in uniform_clips(100, 8, 4, 3)] == [0, 36, 71]
    assert uniform_clips(100, 8, 4, 1)[0][0] == 0
    assert clip_indices(5, 3, 2, 8) == [5, 7, 7]


def test_empty_video_is_an_error():
    with pytest.raises(ValueError):
        clip_indices(0, 4, 1, 0)


# ---- time-based sampling (variable frame rate / wrong metadata): parameter tables, no video needed

from videosce.data.samplers import random_time_clips, time_clip_indices, uniform_time_clips, video_end  # noqa: E402

CFR25 = np.arange(250) / 25  # 10 s at 25 fps
VFR = np.array([0.0, 0.1, 0.15, 0.5, 0.55, 1.0])  # irregular gaps, as phones record


@pytest.mark.parametrize(
    "timestamps,start,duration,frames,expected",
    [
        # SCE: 2.56 s at 25 fps = frames 0..63 (64/25 = 2.56 is outside), 8 of them: k * 63 // 7
        (CFR25, 0.0, 2.56, 8, [0, 9, 18, 27, 36, 45, 54, 63]),
        (CFR25, 1.0, 2.56, 8, [25, 34, 43, 52, 61, 70, 79, 88]),
        (np.arange(300) / 30, 0.0, 2.56, 8, [0, 10, 21, 32, 43, 54, 65, 76]),  # 30 fps: frames 0..76, k * 76 // 7
        (np.arange(25) / (750000 / 71393), 0.0, 2.0, 4, [0, 7, 14, 21]),  # 10.5 fps: frames 0..21 (22 * 0.0952 s > 2)
        (VFR, 0.0, 1.0, 4, [0, 1, 2, 4]),  # frames at 0, .1, .15, .5, .55 lie in [0, 1): k * 4 // 3
        (VFR, 0.12, 0.4, 2, [2, 3]),  # [.12, .52) holds the frames at .15 and .5 (pytorchvideo: pts >= start)
        (np.arange(10) / 25, 0.0, 2.56, 8, [0, 1, 2, 3, 5, 6, 7, 9]),  # short video: spread over its 10 frames
        (np.array([0.0]), 0.0, 2.56, 4, [0, 0, 0, 0]),  # single frame
        (np.array([0.0, 5.0]), 1.0, 2.0, 3, [0, 0, 0]),  # no frame in [1, 3): the frame on screen at 1 s
    ],
)
def test_time_clip_indices_table(timestamps, start, duration, frames, expected):
    assert time_clip_indices(timestamps, start, duration, frames) == expected


@pytest.mark.parametrize("timestamps", [CFR25, np.arange(300) / 29.97, VFR, np.sort(np.random.default_rng(3).uniform(0, 9, 200))])
@pytest.mark.parametrize("frames", [4, 8, 16])
def test_time_clips_match_pytorchvideo_subsampling_of_the_window(timestamps, frames):
    """Independent computation: the window's frames found by scanning every timestamp (pytorchvideo
    keeps pts in [start, end)), then pytorchvideo's `uniform_temporal_subsample` on their indices,
    transcribed (float32 linspace, truncated; its package does not import with torchvision 0.29)."""
    import torch

    rng = np.random.default_rng(0)
    for _ in range(50):
        duration = float(rng.uniform(0.3, 3.0))
        start = float(rng.uniform(timestamps[0], max(video_end(timestamps) - duration, timestamps[0])))
        window = [i for i, t in enumerate(timestamps) if start <= t < start + duration]
        if len(window) < frames:  # pytorchvideo's float32 linspace upsamples differently (uniform_subsample)
            continue
        picks = torch.clamp(torch.linspace(0, len(window) - 1, frames), 0, len(window) - 1).long()
        expected = [window[i] for i in picks.tolist()]
        assert time_clip_indices(timestamps, start, duration, frames) == expected


@pytest.mark.parametrize("timestamps,end", [(CFR25, 10.0), (VFR, 1.2), (np.array([0.0]), 0.0), (np.array([2.0, 2.5]), 3.0)])
def test_video_end(timestamps, end):
    assert video_end(timestamps) == pytest.approx(end)


@pytest.mark.parametrize("timestamps", [CFR25, VFR, np.arange(10) / 25])
def test_random_time_clips_stay_inside(timestamps):
    rng = np.random.default_rng(0)
    for clip in random_time_clips(timestamps, 2.56, 8, 50, rng):
        assert len(clip) == 8 and clip == sorted(clip)
        assert 0 <= clip[0] and clip[-1] < len(timestamps)


def test_random_time_clip_starts_cover_the_video():
    clips = random_time_clips(CFR25, 2.56, 8, 400, np.random.default_rng(0))
    firsts = {c[0] for c in clips}
    assert min(firsts) <= 2 and max(firsts) >= 250 - 64 - 2  # 2.56 s = 64 frames from the end


def test_uniform_time_clips_hand_computed():
    # starts linspace(0, 10 - 2.56, 3) = 0, 3.72, 7.44 s -> frames 0, 93, 186
    assert [c[0] for c in uniform_time_clips(CFR25, 2.56, 8, 3)] == [0, 93, 186]
    assert uniform_time_clips(np.arange(10) / 25, 2.56, 4, 2) == [[0, 3, 6, 9], [0, 3, 6, 9]]


@pytest.mark.parametrize("timestamps,duration,frames", [(np.array([]), 1.0, 4), (CFR25, 0.0, 4), (CFR25, 1.0, 0)])
def test_time_sampling_rejects_bad_input(timestamps, duration, frames):
    with pytest.raises(ValueError):
        time_clip_indices(timestamps, 0.0, duration, frames)


@pytest.mark.parametrize(
    "clip,expected",
    [
        ([0, 9, 18, 27], [(0, 1), (9, 10), (18, 19), (26, 27)]),  # the last frame repeats the previous difference
        ([5, 5, 6, 6], [(5, 6), (5, 6), (5, 6), (5, 6)]),  # upsampled 2-frame window: both frames get 5 - 6
        ([3, 3, 3], [(3, 3), (3, 3), (3, 3)]),  # one frame: no motion
    ],
)
def test_difference_pairs_by_hand(clip, expected):
    from videosce.data.samplers import difference_pairs

    assert difference_pairs(clip) == expected
