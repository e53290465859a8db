import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from videosce.config import load_config
from videosce.eval import VideoFeatures, knn_monitor, knn_scores
from videosce.eval.knn import knn_top1
from videosce.models import VideoBackbone
from helpers import demo_data, eval_context, normalization, run_tool

ROOT = Path(__file__).resolve().parents[1]
BANK = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]])
BANK_LABELS = torch.tensor([0, 1, 1, 0])


def test_knn_votes_by_hand():
    # query [1, 0]: similarities 1, 0, 0.6, -1 -> top 3 = bank 0 (class 0), 2 (class 1), 1 (class 1)
    # query [-0.6, 0.8]: similarities -0.6, 0.8, 0.28, 0.6 -> top 3 = bank 1 (class 1), 3 (class 0), 2 (class 1)
    scores = knn_scores(torch.tensor([[2.0, 0.0], [-0.6, 0.8]]), BANK, BANK_LABELS, num_classes=2, k=3, temperature=0.5)
    expected = [[math.exp(2.0), math.exp(1.2) + math.exp(0.0)], [math.exp(1.2), math.exp(1.6) + math.exp(0.56)]]
    assert torch.allclose(scores, torch.tensor(expected), rtol=1e-5)


def test_knn_top1_counts_undecodable_queries_wrong_and_skips_undecodable_bank():
    query = VideoFeatures(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), torch.tensor([0, 1, 0]), torch.tensor([True, True, False]))
    bank = VideoFeatures(BANK, BANK_LABELS, torch.tensor([True, True, True, False]))
    assert knn_top1(query, bank, 2, k=1, temperature=0.07) == pytest.approx(200 / 3)
    # with bank item 3 left out, k=4 exceeds the bank: all 3 remaining items vote
    assert knn_top1(query, bank, 2, k=4, temperature=0.07) == pytest.approx(200 / 3)


class TinyBackbone(VideoBackbone):
    num_features = 4

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, kernel_size=1, stride=(1, 4, 4))
        self.bn = nn.BatchNorm3d(4)

    def forward_features(self, x):
        return torch.relu(self.bn(self.conv(x)))


def test_knn_monitor_restores_train_mode(demo_root, tmp_path):
    cfg = load_config(None, demo_data(demo_root) + [f"output_dir={tmp_path}", "eval.knn_monitor_videos=6", "eval.knn_k=[3]"])
    backbone = TinyBackbone().train()
    result = knn_monitor(backbone, cfg.data, cfg.eval, normalization=normalization(cfg), ctx=eval_context(cfg))
    assert set(result) == {"knn_top1"} and 0 <= result["knn_top1"] <= 100
    assert backbone.training


def test_linear_and_knn_end_to_end(demo_root, tmp_path, monkeypatch):
    out = tmp_path / "lin"
    args = ["--cfg", ROOT / "configs" / "linear" / "demo.yaml", f"output_dir={out}", "checkpoint=random", *demo_data(demo_root),
            "eval.num_crops=2", "eval.knn_k=[3,200]", "trainer.max_epochs=3", "trainer.batch_size=8", "trainer.progress_bar=false"]
    run_tool("linear", *args)
    result = json.loads((out / "linear.json").read_text())
    assert {"top1", "top5", "clip_top1", "mean_class_acc", "knn3_top1", "knn200_top1"} <= set(result)
    cached = sorted(p.name.split("-")[1:3] for p in (out / "feature_cache").glob("*.pt"))
    assert cached == [["views", "test"], ["views", "train"]]
    feats = torch.load(next((out / "feature_cache").glob("*views-test*.pt")), weights_only=True)["feats"]
    assert feats.shape == (12, 4, 128)  # 12 test videos x (2 clips x 2 crops) x r3d_tiny's 128 features
    for name in ["linear.csv", "linear_curves.png", "confusion.png", "per_class.json"]:
        assert (out / "run0_random" / name).is_file(), name

    from videosce.eval import features

    monkeypatch.setattr(features, "extract_features", lambda *a, **k: pytest.fail("features should come from the cache"))
    run_tool("linear", *args)
    assert json.loads((out / "linear.json").read_text()) == result
