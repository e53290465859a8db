"""eval.retrieval_mode=sce: the SCE paper's retrieval (10 x 3 views, each side mean-centred, cosine, R@1..25)."""
import numpy as np
import pytest
import torch

from videosce.config import load_config
from videosce.data.datasets import VideoIndex, VideoRecord
from videosce.eval import VideoFeatures, evaluate_retrieval, retrieval_title
from videosce.eval import retrieval as retrieval_module
from videosce.eval.ranking import retrieval_hits
from videosce.eval.retrieval import SCE_KS, mean_centred
from helpers import eval_context, normalization

BASE = ["data.video_root=v", "data.split_dir=s"]


def features(rows, labels, valid=None):
    feats = torch.tensor(rows, dtype=torch.float32)
    valid = torch.ones(len(rows), dtype=torch.bool) if valid is None else torch.tensor(valid)
    return VideoFeatures(feats, torch.tensor(labels), valid)


def run_mode(monkeypatch, mode, gallery, query):
    """evaluate_retrieval on hand-made features; returns the metrics and the configs features were asked under."""
    asked = []

    def fake_eval_features(backbone, data, ev, subset, *, normalization, ctx):
        asked.append((data, ev))
        chosen = gallery if subset == "train" else query
        return chosen, VideoIndex([VideoRecord(f"{subset}{i}.mp4", int(l)) for i, l in enumerate(chosen.labels)], ["a", "b"])

    monkeypatch.setattr(retrieval_module, "eval_features", fake_eval_features)
    cfg = load_config(None, BASE + [f"eval.retrieval_mode={mode}"], job="retrieval")
    return evaluate_retrieval(torch.nn.Identity(), cfg.data, cfg.eval, normalization=normalization(cfg), ctx=eval_context(cfg)), asked


# Gallery (0, 10) + (+-1, 0) and queries (5, 0) + (+-1, 0): each side's common offset dominates the raw cosine
# (both queries point at gallery 0), and only the per-side centring leaves the +-1 that carries the class.
GALLERY = features([[1.0, 10.0], [-1.0, 10.0]], [0, 1])
QUERY = features([[6.0, 0.0], [4.0, 0.0]], [0, 1])


def test_centring_changes_the_ranking_by_hand(monkeypatch):
    # raw: q1 = (4, 0) has cosine +0.0995 with g0 (class 0) and -0.0995 with g1 -> miss at 1
    clean, _ = run_mode(monkeypatch, "clean", GALLERY, QUERY)
    assert clean["R@1"] == 50.0
    # centred: gallery (1, 0), (-1, 0); queries (1, 0), (-1, 0) -> both hit at 1
    sce, asked = run_mode(monkeypatch, "sce", GALLERY, QUERY)
    assert list(sce) == ["R@1", "undecodable_queries", "undecodable_gallery"]  # R@5..25 would rank the whole 2-video gallery
    assert sce["R@1"] == 100.0
    # the protocol's views whatever data.* says (BASE keeps data.size 112, eval_short_side 128, frame clips):
    # 10 clips of 2.56 s x 3 crops of 256 after a 256 short side; the frame count is the row's (data.frames)
    views = [(data.eval_clips, ev.num_crops, data.clip_duration, data.eval_short_side, ev.crop_size, data.frames) for data, ev in asked]
    assert views == [(10, 3, 2.56, 256, 256, 8)] * 2


def test_each_side_uses_its_own_mean_and_skips_undecodable_rows():
    feats = features([[1.0, 2.0], [3.0, 6.0], [0.0, 0.0]], [0, 1, 1], valid=[True, True, False])
    centred = mean_centred(feats)
    assert centred.feats.tolist() == [[-1.0, -2.0], [1.0, 2.0], [0.0, 0.0]]
    assert torch.equal(feats.feats[0], torch.tensor([1.0, 2.0]))  # the input is not modified


def sce_oracle(q, ql, g, gl, ks):
    """Float64: centre each side by its own mean, L2-normalise, dot product, a hit when a top-k item shares the class."""
    q, g = q.double().numpy(), g.double().numpy()
    q, g = q - q.mean(axis=0), g - g.mean(axis=0)
    q, g = q / np.linalg.norm(q, axis=1, keepdims=True), g / np.linalg.norm(g, axis=1, keepdims=True)
    order = np.argsort(-(q @ g.T), axis=1, kind="stable")
    return [100.0 * np.mean([ql[i].item() in gl.numpy()[order[i, :k]] for i in range(len(q))]) for k in ks]


def test_sce_mode_matches_float64_oracle(monkeypatch):
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(12, 16, generator=gen)
    gl, ql = torch.randint(12, (200,), generator=gen), torch.randint(12, (80,), generator=gen)
    g = 5.0 + centres[gl] + 1.5 * torch.randn(200, 16, generator=gen)  # a large shared offset, as after a ReLU
    q = 3.0 + centres[ql] + 1.5 * torch.randn(80, 16, generator=gen)
    result, _ = run_mode(monkeypatch, "sce", VideoFeatures(g, gl, torch.ones(200, dtype=torch.bool)),
                         VideoFeatures(q, ql, torch.ones(80, dtype=torch.bool)))
    recall = [result[f"R@{k}"] for k in SCE_KS]
    assert recall == pytest.approx(sce_oracle(q, ql, g, gl, SCE_KS), abs=1e-4)
    raw = 100.0 * retrieval_hits(q, ql, g, gl, SCE_KS).float().mean(dim=0)
    assert raw.tolist() != pytest.approx(recall, abs=1e-4)  # the centring matters here


def test_title_names_the_mode():
    cfg = load_config(None, BASE + ["eval.retrieval_mode=sce", "data.split=2"])
    title = retrieval_title(cfg.data, cfg.eval)
    assert "mode=sce" in title and "10 clips x 3 crops" in title and "mean-centred" in title and "split 2" in title
    assert "2.56 s, short side 256, 256px crops" in title
