"""Every tool answers --help, rejects bad config keys in one line, and the demo path runs end to end."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
TOOLS = sorted((ROOT / "tools").glob("*.py"))


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("tool", TOOLS, ids=[t.name for t in TOOLS])
def test_help(tool):
    result = run(tool, "--help")
    assert result.returncode == 0 and "usage" in result.stdout


@pytest.mark.parametrize("tool", ["pretrain.py", "retrieval.py", "finetune.py"])
def test_bad_key_is_one_line_error(tool):
    result = run(ROOT / "tools" / tool, "--cfg", ROOT / "configs" / "pretrain" / "demo_sce.yaml", "data.framez=3")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: override 'data.framez=3': unknown config key 'data.framez'"


def test_demo_end_to_end_tiny(demo_root, tmp_path):
    """pretrain -> retrieval (pretrained and random) -> finetune on a small generated dataset."""
    data = [f"data.video_root={demo_root / 'videos'}", f"data.split_dir={demo_root / 'splits'}", "data.format=ucf101",
            "data.num_workers=0", "data.size=24", "data.eval_short_side=28", "data.eval_clips=2", "data.frames=4"]
    pre = run(ROOT / "tools" / "pretrain.py", "--cfg", ROOT / "configs" / "pretrain" / "demo_sce.yaml", f"output_dir={tmp_path / 'pre'}",
              "trainer.max_epochs=2", "trainer.batch_size=8", "method.queue_size=32", "trainer.progress_bar=false", *data)
    assert pre.returncode == 0, pre.stderr[-2000:]
    assert "R@1" in pre.stdout
    ckpt = tmp_path / "pre" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and (tmp_path / "pre" / "train.csv").is_file() and list((tmp_path / "pre" / "tb").iterdir())
    recorded = torch.load(ckpt, weights_only=True)["config"]["data"]  # the normalisation evaluation will reuse
    assert recorded["mean"] == [0.45] * 3 and recorded["std"] == [0.225] * 3

    ret = run(ROOT / "tools" / "retrieval.py", "--cfg", ROOT / "configs" / "retrieval" / "demo.yaml", f"output_dir={tmp_path / 'ret'}",
              f"checkpoint=[{ckpt},random]", *data)
    assert ret.returncode == 0, ret.stderr[-2000:]
    rows = json.loads((tmp_path / "ret" / "retrieval.json").read_text())
    assert set(rows) == {str(ckpt), "random"} and set(rows["random"]) == {"R@1", "R@5", "R@10", "R@20", "R@50", "undecodable_queries", "undecodable_gallery"}

    single = run(ROOT / "tools" / "retrieval.py", "--cfg", ROOT / "configs" / "retrieval" / "demo.yaml", f"output_dir={tmp_path / 'ret1'}",
                 f"checkpoint={ckpt}", *data)
    assert single.returncode == 0, single.stderr[-2000:]
    assert json.loads((tmp_path / "ret1" / "retrieval.json").read_text()) == rows[str(ckpt)]

    fin = run(ROOT / "tools" / "finetune.py", "--cfg", ROOT / "configs" / "finetune" / "demo.yaml", f"output_dir={tmp_path / 'fin'}",
              f"checkpoint={ckpt}", "trainer.max_epochs=1", "trainer.batch_size=8", "trainer.progress_bar=false", *data)
    assert fin.returncode == 0, fin.stderr[-2000:]
    result = json.loads((tmp_path / "fin" / "finetune.json").read_text())
    assert {"top1", "top5"} <= set(result) and 0 <= result["top1"] <= result["top5"] <= 100


def test_checkpoint_of_another_backbone_is_refused(demo_root, tmp_path):
    from videosce.engine.checkpoint import save_checkpoint

    pre = tmp_path / "pre" / "checkpoints"

    save_checkpoint({"model": {}, "config": {"model": {"backbone": "r3d_18"}}}, pre / "last.ckpt")
    result = run(ROOT / "tools" / "retrieval.py", "--cfg", ROOT / "configs" / "retrieval" / "demo.yaml", f"checkpoint={pre / 'last.ckpt'}",
                 f"output_dir={tmp_path}", f"data.video_root={demo_root / 'videos'}", f"data.split_dir={demo_root / 'splits'}", "data.format=ucf101")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("holds a 'r3d_18' backbone but model.backbone=r3d_tiny")


@pytest.mark.parametrize("tool,name", [("pretrain.py", "k400_r3d50_sce.yaml"), ("retrieval.py", "ucf101_vcop")])
def test_bare_recipe_name_from_the_repo_root_fails_on_the_data(tool, name, tmp_path):
    """The design card's command: a recipe named without its folder reaches the data, which is absent here."""
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(ROOT / "tools" / tool, "--cfg", name, f"data.video_root={empty}", f"data.split_dir={empty}",
                 f"output_dir={tmp_path / 'out'}", "checkpoint=random" if tool == "retrieval.py" else "seed=0")
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: split file not found: {empty}"), result.stderr[-2000:]
