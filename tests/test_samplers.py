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
