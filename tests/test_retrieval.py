import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from videosce.config import ConfigError, load_config
from videosce.data.datasets import VideoIndex, VideoRecord
from videosce.eval import FeatureCache, VideoFeatures, evaluate_retrieval, recall_at_k, retrieval_hits, topk_accuracy
from videosce.eval.vcop import VcopClipTransform, clip_starts, vcop_pool
from videosce.models import VideoBackbone
from helpers import demo_data, eval_context, normalization, run_tool, small_split

ROOT = Path(__file__).resolve().parents[1]


def test_recall_hand_computed():
    gallery = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.7, 0.7]])
    gallery_labels = torch.tensor([0, 1, 2, 1])
    queries = torch.tensor([[1.0, 0.1], [0.1, 1.0], [-1.0, -0.2]])
    query_labels = torch.tensor([1, 1, 0])
    # query 0 ranks: g0 (0), g3 (1), ... -> hit at 2; query 1: g1 (1) hit at 1; query 2: g2, then ... g0 last
    recalls = recall_at_k(queries, query_labels, gallery, gallery_labels, ks=(1, 2, 3, 4))
    assert recalls[1] == pytest.approx(100 / 3)
    assert recalls[2] == pytest.approx(200 / 3)
    assert recalls[3] == pytest.approx(200 / 3)
    assert recalls[4] == pytest.approx(100.0)


def test_recall_uses_cosine_not_dot_product():
    gallery = torch.tensor([[10.0, 0.0], [0.0, 0.1]])
    recalls = recall_at_k(torch.tensor([[0.1, 1.0]]), torch.tensor([1]), gallery, torch.tensor([0, 1]), ks=(1,))
    assert recalls[1] == 100.0


def test_k_larger_than_gallery():
    recalls = recall_at_k(torch.eye(2), torch.tensor([0, 1]), torch.eye(2), torch.tensor([1, 1]), ks=(1, 50))
    assert recalls == {1: 50.0, 50: 50.0}


def test_ks_at_or_above_the_gallery_size_are_left_out(caplog):
    from videosce.errors import UserError
    from videosce.eval.retrieval import meaningful_ks

    assert meaningful_ks((1, 5, 10, 20, 50), 51) == (1, 5, 10, 20, 50)
    with caplog.at_level("WARNING"):
        assert meaningful_ks((1, 5, 10, 20, 50), 20) == (1, 5, 10)
    assert [r.getMessage() for r in caplog.records] == ["R@20, 50 left out: k >= the gallery's 20 videos, so the top k would be the whole gallery"]
    with pytest.raises(UserError, match="gallery larger than k=1"):
        meaningful_ks((1, 5), 1)


def test_topk_accuracy():
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1]])
    acc = topk_accuracy(scores, torch.tensor([2, 0]), ks=(1, 2))
    assert acc == {1: 50.0, 2: 100.0}


def oracle_recall(q, ql, g, gl, ks):
    """Float64 numpy, one query at a time, as VCOP's retrieve_clips.py counts hits."""
    q = q.double().numpy() / np.linalg.norm(q.double().numpy(), axis=1, keepdims=True)
    g = g.double().numpy() / np.linalg.norm(g.double().numpy(), axis=1, keepdims=True)
    order = np.argsort(-(q @ g.T), axis=1, kind="stable")
    return {k: 100.0 * np.mean([ql[i].item() in gl.numpy()[order[i, :k]] for i in range(len(q))]) for k in ks}


@pytest.mark.parametrize("classes,chunk", [(7, 1024), (40, 64)])
def test_recall_matches_float64_oracle(classes, chunk):
    """Classes missing from the gallery, uneven class sizes, one or several query chunks."""
    gen = torch.Generator().manual_seed(classes)
    centres = torch.randn(classes, 16, generator=gen)
    ql, gl = torch.randint(classes, (300,), generator=gen), torch.randint(classes - 2, (500,), generator=gen)
    q, g = centres[ql] + 1.5 * torch.randn(300, 16, generator=gen), centres[gl] + 1.5 * torch.randn(500, 16, generator=gen)
    ks = (1, 5, 10, 20, 50)
    recalls = 100.0 * retrieval_hits(q, ql, g, gl, ks, chunk=chunk).float().mean(dim=0)
    assert recalls.tolist() == pytest.approx(list(oracle_recall(q, ql, g, gl, ks).values()), abs=1e-4)


def test_tie_counts_as_hit():
    gallery = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert recall_at_k(torch.tensor([[1.0, 0.0]]), torch.tensor([1]), gallery, torch.tensor([0, 1]), ks=(1,)) == {1: 100.0}


def test_vcop_clip_starts_by_hand():
    # centres linspace(8, 92, 10) = 8, 17.33, 26.67, 36, 45.33, 54.67, 64, 73.33, 82.67, 92; starts int(c - 8)
    assert clip_starts(100) == [0, 9, 18, 28, 37, 46, 56, 65, 74, 84]
    assert clip_starts(16) == [0] * 10
    assert clip_starts(34) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]


def test_vcop_transform_crop_offsets_and_normalisation():
    rows, cols = torch.arange(128)[:, None].expand(128, 171), torch.arange(171)[None, :].expand(128, 171)
    frame = torch.stack([cols % 256, rows, torch.full_like(rows, 255)], dim=-1).to(torch.uint8)
    clip = frame[None].repeat(2, 1, 1, 1)  # already 128x171: the resize keeps it
    out = VcopClipTransform([0.0] * 3, [1.0] * 3)(clip)  # identity normalisation: the [0, 1] pixels
    assert out.shape == (3, 2, 112, 112)
    assert out[0, 0, 0, 0] * 255 == pytest.approx(30, abs=1e-3)  # left = int(round(59 / 2)) = 30, torchvision's rule
    assert out[1, 0, 0, 0] * 255 == pytest.approx(8, abs=1e-3)  # top = 8
    assert out[2].min() == pytest.approx(1.0)
    normalised = VcopClipTransform([0.45] * 3, [0.225] * 3)(clip)  # (x - 0.45) / 0.225 per channel
    assert torch.allclose(normalised, (out - 0.45) / 0.225, atol=1e-5)


class TinyBackbone(VideoBackbone):
    """A strided 1x1x1 conv: the smallest backbone with a real feature map."""

    num_features = 4

    def __init__(self, stride=8):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, kernel_size=1, stride=(1, stride, stride))

    def forward_features(self, x):
        return torch.relu(self.conv(x))


def test_vcop_pool_is_max_over_2x2_then_flatten():
    backbone = TinyBackbone()
    fmap = torch.arange(16.0).view(1, 1, 1, 4, 4)
    backbone.forward_features = lambda x: fmap
    assert vcop_pool(backbone, None).tolist() == [[5.0, 7.0, 13.0, 15.0]]


@pytest.mark.parametrize("job", ["retrieval", "pretrain"])
def test_mode_checks_at_load(job):
    """The mode and vcop's split rule are checked when the config of a job that runs retrieval is loaded."""
    base = ["data.video_root=v", "data.split_dir=s"]
    with pytest.raises(ConfigError, match=r"eval\.retrieval_mode.*expected one of \[clean, vcop, sce\]"):
        load_config(None, base + ["eval.retrieval_mode=coclr"], job=job)
    with pytest.raises(ConfigError, match=r"'data\.split': 2 must be 1 with eval\.retrieval_mode=vcop"):
        load_config(None, base + ["eval.retrieval_mode=vcop", "data.split=2"], job=job)
    with pytest.raises(ConfigError, match=r"'data\.split': all"):
        load_config(None, base + ["eval.retrieval_mode=vcop", "data.split=all"], job=job)
    # pretraining without its end-of-run retrieval does not run the protocol
    assert load_config(None, base + ["eval.retrieval_mode=vcop", "data.split=2", "eval.retrieval_at_end=false"], job="pretrain")


def test_cache_key_changes_with_protocol_data_and_checkpoint(tmp_path):
    ckpt = tmp_path / "a.ckpt"
    ckpt.write_bytes(b"weights")
    index = VideoIndex([VideoRecord(tmp_path / "v.mp4", 0)], ["c"])
    base = ["data.video_root=v", "data.split_dir=s", "data.eval_clips=4"]

    def path(*overrides, name=str(ckpt)):
        cfg = load_config(None, base + list(overrides))
        from videosce.eval.features import clean_protocol

        protocol = clean_protocol(cfg.data, cfg.eval, normalization(cfg))
        return FeatureCache(tmp_path / "cache", name, cfg.model.backbone, cfg.seed).path("test", protocol, cfg.data, index)

    reference = path()
    assert path("data.num_workers=0") == reference  # not a protocol parameter
    for override in ["data.eval_clips=10", "eval.num_crops=3", "data.split=2", "data.frames=16", "data.eval_short_side=160"]:
        assert path(override) != reference, override
    assert path(name="random") != reference
    os.utime(ckpt, ns=(0, 10**9))
    assert path() != reference  # same path, new file


def test_cache_reuses_and_recomputes(tmp_path):
    cfg = load_config(None, ["data.video_root=v", "data.split_dir=s"])
    index = VideoIndex([VideoRecord(tmp_path / "v.mp4", 0)], ["c"])
    cache = FeatureCache(tmp_path, "random", cfg.model.backbone, cfg.seed)
    calls = []

    def compute():
        calls.append(1)
        return VideoFeatures(torch.ones(1, 3), torch.zeros(1, dtype=torch.long), torch.ones(1, dtype=torch.bool))

    for protocol in ({"name": "clean", "clips": 4}, {"name": "clean", "clips": 4}, {"name": "clean", "clips": 5}):
        assert torch.equal(cache.get("test", protocol, cfg.data, index, compute).feats, torch.ones(1, 3))
    assert len(calls) == 2


def test_vcop_on_demo_videos(demo_root, tmp_path):
    """The VCOP path end to end: 16-frame clips of 16-frame videos, 112 crops, max-pooled maps."""
    data = demo_data(demo_root) + [f"data.split_dir={small_split(demo_root, tmp_path, (3, 1))}"]
    cfg = load_config(None, data + ["eval.retrieval_mode=vcop", f"output_dir={tmp_path}", "eval.batch_size=6"])
    cache = FeatureCache(tmp_path / "cache", "random", cfg.model.backbone, cfg.seed)
    torch.manual_seed(0)
    first = evaluate_retrieval(TinyBackbone(), cfg.data, cfg.eval, normalization=normalization(cfg), ctx=eval_context(cfg, cache),
                               figure=tmp_path / "vcop.png")
    assert list(first) == ["R@1", "R@5", "R@10", "undecodable_queries", "undecodable_gallery"]  # 18 gallery videos: no R@20, R@50
    assert (tmp_path / "vcop.png").is_file() and len(list((tmp_path / "cache").glob("random-vcop-*.pt"))) == 2
    feats = torch.load(next((tmp_path / "cache").glob("random-vcop-test-*.pt")), weights_only=True)["feats"]
    assert feats.shape == (6, 4 * 16 * 7 * 7)  # 112 / 8 = 14 -> pooled 7x7, T' = 16


def test_retrieval_tool_clean_names_mode_and_uses_cache(demo_root, tmp_path, monkeypatch):
    out = tmp_path / "ret"
    args = ["--cfg", ROOT / "configs" / "retrieval" / "demo.yaml", f"output_dir={out}", "checkpoint=random", *demo_data(demo_root)]
    run_tool("retrieval", *args)
    result = json.loads((out / "retrieval.json").read_text())
    assert list(result) == ["R@1", "R@5", "R@10", "R@20", "undecodable_queries", "undecodable_gallery"]  # 48 gallery videos: no R@50
    assert "mode=clean" in (out / "retrieval.md").read_text()
    assert (out / "run0_random" / "retrieval.png").is_file()

    from videosce.eval import features

    monkeypatch.setattr(features, "extract_features", lambda *a, **k: pytest.fail("features should come from the cache"))
    run_tool("retrieval", *args)
    assert json.loads((out / "retrieval.json").read_text()) == result
