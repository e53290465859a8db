import csv
import json
import math
from pathlib import Path

import pytest
import torch

from videosce.config import ConfigError, load_config
from videosce.data.transforms import EvalClipTransform
from videosce.eval import classification_report, mean_std
from videosce.eval.features import collate_views
from videosce.eval.report import markdown_table
from videosce.jobs.common import over_splits
from helpers import run_tool

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = ["data.video_root=v", "data.split_dir=s"]


@pytest.mark.parametrize(
    "height,width,num_crops,expected",
    [
        (128, 171, 1, [(8, 30)]),  # centre, rounded up: (ceil(16 / 2), ceil(59 / 2)), pytorchvideo's uniform_crop
        (128, 171, 3, [(8, 0), (8, 30), (8, 59)]),  # left / centre / right along the long side
        (171, 128, 3, [(0, 8), (30, 8), (59, 8)]),  # portrait: top / centre / bottom
        (256, 341, 3, [(0, 0), (0, 43), (0, 85)]),  # SCE: short side 256 (341 = floor(320 / 240 * 256)), three 256 crops
        (112, 172, 5, [(0, 0), (0, 15), (0, 30), (0, 45), (0, 60)]),
    ],
)
def test_crop_positions(height, width, num_crops, expected):
    size = 256 if height == 256 else 112
    assert EvalClipTransform.crop_offsets(height, width, size, num_crops) == expected


def test_three_crops_are_slices_of_the_resized_frame_and_one_crop_is_the_centre():
    clip = torch.randint(0, 256, (4, 24, 40, 3), dtype=torch.uint8)  # short side 24 = crop: no resize
    three = EvalClipTransform(24, 24, num_crops=3)(clip)
    one = EvalClipTransform(24, 24)(clip)
    full = EvalClipTransform(24, 24)(clip[:, :, :24])  # the left crop, taken before the transform
    assert three.shape == (3, 3, 4, 24, 24) and one.shape == (3, 4, 24, 24)
    assert torch.equal(three[1], one)  # (40-24)//2 = 8 = the middle of 0, 8, 16
    assert torch.equal(three[0], full)


def test_collate_views_flattens_crops_and_reshapes_placeholders():
    good = torch.ones(2, 3, 3, 4, 8, 8)  # 2 clips x 3 crops
    clips, labels, index = collate_views([(good, 1, 0), (torch.zeros(2, 3, 4, 8, 8), 2, -1)])
    assert clips.shape == (2, 6, 3, 4, 8, 8) and clips[1].abs().sum() == 0
    assert labels.tolist() == [1, 2] and index.tolist() == [0, -1]


def test_classification_report_by_hand():
    # 3 videos x 2 views x 3 classes; video 2 is undecodable (zeros) and has label 0: it must count as wrong
    views = torch.tensor(
        [
            [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]],  # mean [0.45, 0.35, 0.2] -> 0; label 1
            [[0.1, 0.2, 0.7], [0.1, 0.6, 0.3]],  # mean [0.1, 0.4, 0.5] -> 2; label 2
            [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        ]
    )
    labels, valid = torch.tensor([1, 2, 0]), torch.tensor([True, True, False])
    report = classification_report(views, labels, valid)
    assert report.metrics["top1"] == pytest.approx(100 / 3)  # video 1 only
    assert "top5" not in report.metrics and "clip_top5" not in report.metrics  # 3 classes: every decodable video would hit
    assert report.metrics["clip_top1"] == pytest.approx(100 * 2 / 6)  # views (0,1) and (1,0) are right
    assert report.per_class == [0.0, 0.0, 100.0]
    assert report.metrics["mean_class_acc"] == pytest.approx(100 / 3)
    assert report.confusion.tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 1]]


def test_top5_with_six_classes_by_hand():
    """Scores ranking the true class 5th (of 6) and 6th: top-1 0, top-5 50 (one of two videos)."""
    ranks = torch.tensor([0.30, 0.25, 0.20, 0.15, 0.06, 0.04])
    views = torch.stack([ranks[[5, 0, 1, 2, 3, 4]], ranks[[4, 0, 1, 2, 3, 5]]])[:, None]  # class 0 ranked 6th, then 5th
    report = classification_report(views, torch.tensor([0, 0]), torch.tensor([True, True]))
    assert report.metrics["top1"] == 0.0 and report.metrics["top5"] == 50.0 and report.metrics["clip_top5"] == 50.0


def test_mean_std_by_hand():
    result = mean_std([{"top1": 70.0}, {"top1": 72.0}, {"top1": 77.0}])
    assert result["top1"] == pytest.approx(73.0)
    assert result["top1_std"] == pytest.approx(math.sqrt((9 + 1 + 16) / 2))  # sample std, n - 1


def test_split_all_is_a_valid_split_and_others_are_not():
    assert load_config(None, REQUIRED + ["data.split=all"]).data.split == "all"
    assert load_config(None, REQUIRED + ["data.split=3"]).data.split == 3
    for bad in ["data.split=0", "data.split=two", "data.split=1.5"]:
        with pytest.raises(ConfigError, match="data.split"):
            load_config(None, REQUIRED + [bad])


def test_over_splits_runs_each_split_and_reports_mean_std():
    seen = []

    def run(data, sub):
        seen.append((data.split, sub))
        return {"top1": [70.0, 72.0, 77.0][data.split - 1]}

    result = over_splits(load_config(None, REQUIRED + ["data.split=all"]).data, run)
    assert seen == [(1, "split1"), (2, "split2"), (3, "split3")]
    assert result["top1"] == pytest.approx(73.0) and result["splits"]["split3"] == {"top1": 77.0}
    assert "73.00 ± 3.61" in markdown_table({"random": result})
    assert over_splits(load_config(None, REQUIRED + ["data.split=2"]).data, run) == {"top1": 72.0}


def test_finetune_three_crops_end_to_end(demo_root, tmp_path):
    out = tmp_path / "fin"
    run_tool(
        "finetune", "--cfg", ROOT / "configs" / "finetune" / "demo.yaml", f"output_dir={out}", "checkpoint=random",
        f"data.video_root={demo_root / 'videos'}", f"data.split_dir={demo_root / 'splits'}", "data.format=ucf101",
        "data.num_workers=0", "data.size=24", "data.eval_short_side=24", "data.eval_clips=2", "data.frames=4",
        "eval.num_crops=3", "trainer.max_epochs=2", "trainer.batch_size=8", "trainer.progress_bar=false", "trainer.log_every_n_steps=1",
        "eval.test_every_n_epochs=1", "data.train_short_side=[24,30]",
    )
    result = json.loads((out / "finetune.json").read_text())
    assert {"top1", "top5", "clip_top1", "clip_top5", "mean_class_acc"} <= set(result)
    assert 0 <= result["top1"] <= result["top5"] <= 100
    run_dir = out / "run0_random"
    # best_by_test_*: the scored epoch (epoch 1 from monitor.csv, epoch 2 = the last) with the highest test top-1
    (epoch1,) = list(csv.DictReader((run_dir / "monitor.csv").open()))
    scored = {1: (float(epoch1["test_top1"]), float(epoch1["test_top5"])), 2: (result["top1"], result["top5"])}
    best = max(scored, key=lambda e: (scored[e][0], e))
    assert (result["best_by_test_epoch"], result["best_by_test_top1"], result["best_by_test_top5"]) == (best, *scored[best])
    assert "selected on the test split" in (out / "finetune.md").read_text()
    per_class = json.loads((run_dir / "per_class.json").read_text())
    assert len(per_class["accuracy"]) == 6 and sum(map(sum, per_class["confusion"])) == 12
    for name in ["confusion.png", "finetune.csv", "finetune_curves.png"]:
        assert (run_dir / name).is_file(), name
    assert "3 crops" in (out / "finetune.md").read_text()


def test_sce_test_views_match_pytorchvideo_short_side_scale_and_uniform_crop():
    """320x240 -> short side 256: 341x256 (floor(320 / 240 * 256), pytorchvideo's ShortSideScale), then three
    256 crops at x = 0, ceil(85 / 2) = 43 and 85 (its uniform_crop). Oracle: F.interpolate (upscaling, so
    bilinear without antialiasing is the same) and slicing by hand; tolerance 1e-5 (float32)."""
    clip = torch.randint(0, 256, (2, 240, 320, 3), dtype=torch.uint8)
    views = EvalClipTransform(256, 256, mean=(0.0,) * 3, std=(1.0,) * 3, num_crops=3)(clip)
    resized = torch.nn.functional.interpolate(clip.permute(0, 3, 1, 2).float() / 255, size=(256, 341), mode="bilinear", align_corners=False)
    for view, left in zip(views, (0, 43, 85)):
        assert torch.allclose(view, resized[..., left : left + 256].permute(1, 0, 2, 3), atol=1e-5)
