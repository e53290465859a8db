"""VCLR video-level views (Kuang et al., ICCV 2021): one clip per equal segment, the mean of the clip
features before the projector, and the temporal-order regulariser; checked against hand computations."""
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from videosce.config import ConfigError, load_config
from videosce.data.datasets import VideoClipDataset, VideoRecord, read_index
from videosce.data.samplers import clip_span, segment_clips, segment_time_clips
from videosce.methods import TermInputs, build_method
from videosce.methods.vclr import TemporalOrderTerm, order_loss, shuffle_segments

from helpers import demo_data, train_dataset

SMALL = ["model.backbone=r3d_tiny", "model.proj_hidden_dim=32", "model.proj_dim=8", "model.pred_hidden_dim=32", "method.queue_size=16"]


def vclr_method(name="sce", segments=2, **overrides):
    cfg = load_config(None, ["data.video_root=v", "data.split_dir=s", f"method.name={name}", f"method.vclr.segments={segments}"] + SMALL
                      + [f"{k}={v}" for k, v in overrides.items()])
    return build_method(cfg.model, cfg.method)


# ---- the sampler: one clip inside each of S equal segments


@pytest.mark.parametrize("num_frames,frames,stride,segments", [(100, 8, 4, 3), (90, 4, 2, 4), (64, 8, 1, 8), (20, 8, 2, 3), (5, 4, 1, 3), (1, 4, 1, 2)])
def test_segment_clips_lie_in_their_segments(num_frames, frames, stride, segments):
    rng = np.random.default_rng(0)
    bounds = [k * num_frames // segments for k in range(segments + 1)]  # segment k = [bounds[k], bounds[k+1])
    for _ in range(100):
        clips = segment_clips(num_frames, frames, stride, segments, rng)
        assert len(clips) == segments
        for (a, b), clip in zip(zip(bounds[:-1], bounds[1:]), clips):
            assert len(clip) == frames and all(0 <= i < num_frames for i in clip)
            if b - a >= clip_span(frames, stride):
                assert a <= clip[0] and clip[-1] < b  # the whole clip inside its segment
            else:  # segment shorter than the clip: it starts at the segment's first frame
                assert clip[0] == min(a, num_frames - 1)


def test_segment_clip_starts_cover_each_segment():
    rng = np.random.default_rng(1)
    starts = np.array([[c[0] for c in segment_clips(90, 8, 1, 3, rng)] for _ in range(2000)])
    for k, (a, b) in enumerate([(0, 30), (30, 60), (60, 90)]):
        assert starts[:, k].min() == a and starts[:, k].max() == b - 8


def test_segment_time_clips_lie_in_their_segments():
    times = np.arange(300) / 30  # 10 s at 30 fps, 4 segments of 2.5 s
    rng = np.random.default_rng(2)
    for _ in range(100):
        for k, clip in enumerate(segment_time_clips(times, 1.0, 8, 4, rng)):
            assert 2.5 * k - 1e-9 <= times[clip[0]] and times[clip[-1]] < 2.5 * (k + 1)
    # short: 0.1 s segments; the second window starts at 0.1 s, so its first frame is the first at or after it (0.12 s)
    assert segment_time_clips(np.arange(5) / 25, 1.0, 4, 2, rng)[1][0] == 3


# ---- the model: mean of the per-clip backbone features before the projector


def test_video_level_view_is_the_mean_of_its_clip_features():
    torch.manual_seed(0)
    model = vclr_method().eval()  # eval: BN uses running stats, so one call on B*S clips equals S calls
    view = torch.randn(3, 2, 3, 4, 24, 24)
    by_hand = torch.stack([model.backbone(view[:, s]) for s in range(2)]).mean(0)
    expected = model.predictor(model.projector(by_hand))
    assert torch.allclose(model.online(view), expected, atol=1e-5)
    by_hand_t = torch.stack([model.target.backbone(view[:, s]) for s in range(2)]).mean(0)
    assert torch.allclose(model.target(view), model.target.projector(by_hand_t), atol=1e-5)


def test_shuffle_segments_labels_and_permutations():
    features = torch.arange(4000 * 3, dtype=torch.float32).view(4000, 3, 1)
    shuffled, labels = shuffle_segments(features, 0.5, torch.Generator().manual_seed(0))
    assert abs(labels.mean().item() - 0.5) < 0.03
    orders = (shuffled[..., 0] - features[:, :1, 0]).long()  # each row's segment order
    assert (orders.sort(dim=1).values == torch.arange(3)).all()  # a permutation of the row's own segments
    identity = (orders == torch.arange(3)).all(dim=1)
    assert torch.equal(identity, labels == 0)  # ordered exactly when labelled 0, never the identity when 1
    counts = {p: int(((orders == torch.tensor(p)).all(1) & (labels == 1)).sum()) for p in itertools.permutations(range(3)) if p != (0, 1, 2)}
    assert max(counts.values()) - min(counts.values()) < 0.25 * np.mean(list(counts.values()))  # uniform over the 5 others
    assert torch.equal(shuffle_segments(features, 0.0)[0], features)


def test_order_loss_is_the_binary_cross_entropy_of_shuffled_vs_ordered():
    torch.manual_seed(0)
    head = torch.nn.Linear(3 * 4, 1)
    features = torch.randn(16, 3, 4)
    loss = order_loss(head, features, 0.5, torch.Generator().manual_seed(7))
    shuffled, labels = shuffle_segments(features, 0.5, torch.Generator().manual_seed(7))
    z = head(shuffled.reshape(16, 12))[:, 0]
    by_hand = -(labels * torch.log(torch.sigmoid(z)) + (1 - labels) * torch.log(1 - torch.sigmoid(z))).mean()
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-5)


def test_order_term_reuses_the_forward_features_and_needs_segments():
    term = TemporalOrderTerm(in_dim=4, segments=2, weight=0.5)
    features = torch.randn(6, 2, 4, requires_grad=True)
    never = lambda clips: pytest.fail("the backbone ran: the features of the forward must be reused")  # noqa: E731
    value = term(TermInputs([torch.zeros(1)] * 2, [features], never, torch.Generator()))
    value.backward()
    assert features.grad is not None
    with pytest.raises(ValueError, match="method.vclr.segments"):
        term(TermInputs([torch.zeros(1)] * 2, [torch.randn(6, 4)], never, torch.Generator()))


# ---- smoke: a tiny model with video-level views runs forward + backward


@pytest.mark.parametrize("name,sym", [("sce", True), ("moco", True), ("sce", False)])
def test_tiny_model_with_vclr_views_trains_one_step(name, sym):
    torch.manual_seed(0)
    model = vclr_method(name, **{"method.sym": sym})
    views = [torch.randn(2, 2, 3, 4, 24, 24) for _ in range(2)]
    out = model(views)
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and torch.isfinite(out["loss_vclr_order"]) and out["loss_vclr_order"] > 0
    assert all(p.grad is not None for p in model.backbone.parameters())
    assert all(p.grad is not None for p in model.terms["vclr_order"].head.parameters())
    model.after_optimizer_step(1, 10)


def test_vclr_config_is_off_by_default_and_checked():
    assert "vclr_order" not in vclr_method(segments=0).terms
    assert "vclr_order" not in vclr_method(**{"method.vclr.order_weight": 0}).terms
    for override, key in [("method.vclr.segments=1", "method.vclr.segments"), ("method.vclr.order_weight=-1", "method.vclr.order_weight")]:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(None, ["data.video_root=v", "data.split_dir=s", override])
    with pytest.raises(ConfigError, match=r"method\.vclr\.segments.*momentum"):
        load_config(None, ["data.video_root=v", "data.split_dir=s", "method.vclr.segments=2", "method.name=simclr"])
    with pytest.raises(ConfigError, match=r"method\.vclr\.segments.*clip_gap"):
        load_config(None, ["data.video_root=v", "data.split_dir=s", "method.vclr.segments=2", "data.clip_gap_dist=cvrl"])


# ---- the dataset: per view S clips, laid out (S,3,T,H,W), one augmentation per view


def test_dataset_returns_segmented_views_on_demo_videos(demo_root, tmp_path):
    cfg = load_config(None, demo_data(demo_root) + SMALL + [f"output_dir={tmp_path}", "method.vclr.segments=2"])
    dataset = train_dataset(cfg, read_index(cfg.data, "train"), 2)
    clips = dataset.sample_clips(0, np.random.default_rng(0))
    assert len(clips) == 4  # 2 views x 2 segments, view-major; 16 frames -> segments [0, 8) and [8, 16)
    for view in (clips[:2], clips[2:]):
        assert view[0][0] <= 1 and view[0][-1] < 8 and 8 <= view[1][0] and view[1][-1] < 16  # span 7 in 8 frames
    views, _, _ = dataset[0]
    assert len(views) == 2 and all(v.shape == (2, 3, 4, 24, 24) for v in views)
    batch = [torch.stack([dataset[i][0][v] for i in range(2)]) for v in range(2)]
    assert batch[0].shape == (2, 2, 3, 4, 24, 24)  # (B,S,3,T,H,W)
    torch.manual_seed(0)
    out = build_method(cfg.model, cfg.method)(batch)
    out["loss"].backward()
    assert torch.isfinite(out["loss"])


def test_the_clips_of_a_view_share_one_augmentation(demo_root):
    record = VideoRecord(next(Path(demo_root, "videos").rglob("*.mp4")), 0)
    draws = lambda clip, rng: torch.full((1,), rng.random())  # the transform's first random draw  # noqa: E731
    dataset = VideoClipDataset([record], draws, frames=4, stride=2, num_clips=2, train=True, segments=3)
    views, _, _ = dataset[0]
    assert all(v.shape == (3, 1) and torch.all(v == v[0]) for v in views)  # same draws within a view
    assert views[0][0] != views[1][0]  # fresh draws for the next view
