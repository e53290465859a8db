"""Every tool answers --help, rejects bad config keys in one line, and the demo path runs end to end."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from videosce.engine.checkpoint import load_checkpoint

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


CONFIG_TOOLS = ["pretrain.py", "retrieval.py", "finetune.py", "linear.py", "check_dataset.py", "ablate.py", "benchmark_step.py"]
CHECK_BEFORE_TORCH = """
import runpy, sys
sys.argv = [sys.argv[1], "--cfg", sys.argv[2]]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:
    print(exc.code, "torch" in sys.modules)
"""


@pytest.mark.parametrize("tool", CONFIG_TOOLS)
def test_config_errors_come_before_torch_is_imported(tool, tmp_path):
    """A typo in --cfg or a bad key is answered in one line without paying torch's import (seconds)."""
    bad_key = tmp_path / "bad_key.yaml"
    bad_key.write_text("output_dirz: outputs/x\n")
    for cfg, message in ((tmp_path / "typo.yaml", "config file not found"), (bad_key, "unknown config key 'output_dirz'")):
        result = run("-c", CHECK_BEFORE_TORCH, ROOT / "tools" / tool, cfg)
        assert result.stdout.split() == ["2", "False"], (result.stdout, result.stderr[-2000:])
        assert result.stderr.startswith("error: ") and message in result.stderr and result.stderr.count("\n") == 1


def test_demo_end_to_end_tiny(demo_root, tmp_path):
    """pretrain -> retrieval (pretrained and random), finetune and linear, each from the exported backbone file."""
    data = [f"data.video_root={demo_root / 'videos'}", f"data.split_dir={demo_root / 'splits'}", "data.format=ucf101",
            "data.num_workers=0", "data.size=24", "data.eval_short_side=28", "data.eval_clips=2", "data.frames=4"]
    pre = run(ROOT / "tools" / "pretrain.py", "--cfg", ROOT / "configs" / "pretrain" / "demo_sce.yaml", f"output_dir={tmp_path / 'pre'}",
              "trainer.max_epochs=2", "trainer.batch_size=8", "method.queue_size=32", "trainer.progress_bar=false", *data)
    assert pre.returncode == 0, pre.stderr[-2000:]
    assert "R@1" in pre.stdout
    checkpoints = tmp_path / "pre" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["backbone.pt", "last.ckpt"]
    assert (tmp_path / "pre" / "train.csv").is_file() and list((tmp_path / "pre" / "tb").iterdir())
    ckpt = checkpoints / "backbone.pt"
    for name in ("last.ckpt", "backbone.pt"):  # the normalisation evaluation will reuse
        recorded = torch.load(checkpoints / name, weights_only=True)["config"]["data"]
        assert recorded["mean"] == [0.45] * 3 and recorded["std"] == [0.225] * 3

    ret = run(ROOT / "tools" / "retrieval.py", "--cfg", ROOT / "configs" / "retrieval" / "demo.yaml", f"output_dir={tmp_path / 'ret'}",
              f"checkpoint=[{ckpt},random]", *data)
    assert ret.returncode == 0, ret.stderr[-2000:]
    rows = json.loads((tmp_path / "ret" / "retrieval.json").read_text())
    gallery = len((demo_root / "splits" / "trainlist01.txt").read_text().splitlines())
    expected = {f"R@{k}" for k in (1, 5, 10, 20, 50) if k < gallery}  # R@k with k >= the gallery is left out
    assert gallery < 50 and set(rows) == {str(ckpt), "random"} and set(rows["random"]) == expected | {"undecodable_queries", "undecodable_gallery"}
    assert f"R@50 left out: k >= the gallery's {gallery} videos" in ret.stderr

    single = run(ROOT / "tools" / "retrieval.py", "--cfg", ROOT / "configs" / "retrieval" / "demo.yaml", f"output_dir={tmp_path / 'ret1'}",
                 f"checkpoint={checkpoints / 'last.ckpt'}", *data)
    assert single.returncode == 0, single.stderr[-2000:]
    assert json.loads((tmp_path / "ret1" / "retrieval.json").read_text()) == rows[str(ckpt)]  # full state and export: same backbone

    fin = run(ROOT / "tools" / "finetune.py", "--cfg", ROOT / "configs" / "finetune" / "demo.yaml", f"output_dir={tmp_path / 'fin'}",
              f"checkpoint={ckpt}", "trainer.max_epochs=1", "trainer.batch_size=8", "trainer.progress_bar=false", *data)
    assert fin.returncode == 0, fin.stderr[-2000:]
    result = json.loads((tmp_path / "fin" / "finetune.json").read_text())
    assert {"top1", "top5"} <= set(result) and 0 <= result["top1"] <= result["top5"] <= 100

    lin = run(ROOT / "tools" / "linear.py", "--cfg", ROOT / "configs" / "linear" / "demo.yaml", f"output_dir={tmp_path / 'lin'}",
              f"checkpoint={ckpt}", "trainer.max_epochs=2", "trainer.progress_bar=false", *data)
    assert lin.returncode == 0, lin.stderr[-2000:]
    assert {"top1", "knn20_top1"} <= set(json.loads((tmp_path / "lin" / "linear.json").read_text()))


def test_pretrain_replaces_fp16_on_cpu_with_one_line_and_records_it(demo_root, tmp_path, caplog):
    from helpers import demo_data, run_tool

    from videosce.engine.precision import cpu_has_native_bf16

    out, used = tmp_path / "pre", "bf16" if cpu_has_native_bf16() else "32"
    with caplog.at_level("WARNING"):
        run_tool("pretrain", "--cfg", ROOT / "configs" / "pretrain" / "demo_sce.yaml", f"output_dir={out}", "trainer.precision=16",
                 "trainer.max_epochs=1", "trainer.batch_size=8", "method.queue_size=32", "trainer.progress_bar=false",
                 "eval.retrieval_at_end=false", *demo_data(demo_root))
    lines = [r.getMessage() for r in caplog.records if "trainer.precision=" in r.getMessage()]
    assert len(lines) == 1 and lines[0].endswith(f"using trainer.precision={used} instead")
    assert yaml.safe_load((out / "config.yaml").read_text())["trainer"]["precision"] == used
    for name in ("last.ckpt", "backbone.pt"):
        assert load_checkpoint(out / "checkpoints" / name)["config"]["trainer"]["precision"] == used


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
    lines = result.stderr.strip().splitlines()  # on a CPU, the recipe's fp16 is replaced first, with one warning line
    assert lines[-1].startswith(f"error: split file not found: {empty}") and sum(line.startswith("error:") for line in lines) == 1, result.stderr[-2000:]
