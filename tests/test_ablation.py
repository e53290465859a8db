"""tools/ablate.py: config checks, the summary arithmetic, and a tiny end-to-end ablation that resumes."""
import json
import math

import pytest
import yaml
from helpers import ROOT, demo_data, run_tool

from videosce.config import ConfigError, load_ablation_config
from videosce.jobs.ablate import RANDOM, markdown, step_cost_ms, summarise


def test_step_cost_is_the_median_compute_time(tmp_path):
    csv = tmp_path / "train.csv"
    csv.write_text("step,loss,data_time,step_time\n1,5,0.1,0.5\n2,5,0.0,0.3\n3,5,0.2,1.2\n")
    assert step_cost_ms(csv) == pytest.approx(400.0)  # median of 400, 300, 1000 ms


def test_summary_means_stds_and_cost_ratio_to_the_first_variant():
    results = {
        "sce": [{"R@1": 30.0, "step_ms": 100.0}, {"R@1": 34.0, "step_ms": 120.0}],
        "mochi": [{"R@1": 20.0, "step_ms": 165.0}, {"R@1": 20.0, "step_ms": 165.0}],
        RANDOM: [{"R@1": 10.0}, {"R@1": 12.0}],
    }
    table = summarise(results)
    assert table["sce"]["R@1"] == 32.0 and table["sce"]["R@1_std"] == pytest.approx(math.sqrt(8.0))
    assert table["mochi"]["cost_ratio"] == pytest.approx(165.0 / 110.0)
    assert table["sce"]["cost_ratio"] == 1.0 and "cost_ratio" not in table[RANDOM]
    text = markdown(table, ["R@1"])
    assert "| sce | 32.0 ± 2.8 | 110 | 1.00x |" in text and f"| {RANDOM} | 11.0 ± 1.4 | - | - |" in text


def test_config_errors_name_the_key(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("seedz: [0]\n")
    with pytest.raises(ConfigError, match="seedz"):
        load_ablation_config(path)
    path.write_text("variants: {}\n")
    with pytest.raises(ConfigError, match="variants"):
        load_ablation_config(path)
    with pytest.raises(ConfigError, match="seeds"):
        load_ablation_config(ROOT / "configs" / "ablate" / "demo.yaml", ["seeds=[]"])


def test_only_selects_variants_in_their_config_order_and_names_unknown_ones():
    from videosce.jobs.ablate import selected_variants

    demo = ROOT / "configs" / "ablate" / "demo.yaml"
    assert list(selected_variants(load_ablation_config(demo, ["only=[densecl,sce]"]))) == ["sce", "densecl"]
    assert len(selected_variants(load_ablation_config(demo))) == len(load_ablation_config(demo).variants)
    with pytest.raises(ConfigError, match=r"'only'.*\['scfss'\]"):
        load_ablation_config(demo, ["only=[sce,scfss]"])


def test_demo_ablation_config_names_valid_pretrain_overrides():
    """Every variant of the shipped ablation builds a valid pretraining config."""
    from videosce.config import load_config

    cfg = load_ablation_config(ROOT / "configs" / "ablate" / "demo.yaml")
    assert len(cfg.seeds) >= 2 and "sce" == next(iter(cfg.variants))
    for overrides in cfg.variants.values():
        load_config(ROOT / cfg.pretrain, [*cfg.pretrain_overrides, *overrides], job="pretrain")


@pytest.mark.slow
def test_tiny_ablation_end_to_end_then_rerun_skips_finished_runs(demo_root, tmp_path):
    tiny = demo_data(demo_root) + ["model.proj_hidden_dim=32", "model.proj_dim=16", "model.pred_hidden_dim=32", "trainer.batch_size=8",
                                   "trainer.max_epochs=1", "trainer.progress_bar=false", "eval.batch_size=8", "trainer.log_every_n_steps=1"]
    spec = {
        "output_dir": str(tmp_path / "abl"),
        "pretrain": str(ROOT / "configs" / "pretrain" / "demo_sce.yaml"),
        "retrieval": str(ROOT / "configs" / "retrieval" / "demo.yaml"),
        "finetune": str(ROOT / "configs" / "finetune" / "demo.yaml"),
        "seeds": [0, 1],
        "pretrain_overrides": tiny + ["method.queue_size=64"],
        "retrieval_overrides": demo_data(demo_root) + ["eval.batch_size=8"],
        "finetune_overrides": tiny,
        "variants": {"sce": [], "use_keys": ["method.use_keys=true"]},
    }
    path = tmp_path / "ablate.yaml"
    path.write_text(yaml.safe_dump(spec))
    run_tool("ablate", "--cfg", path)
    summary = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert set(summary["results"]) == {"sce", "use_keys", RANDOM}
    for name, row in summary["results"].items():
        assert row["seeds"] == 2 and 0 <= row["R@1"] <= 100 and 0 <= row["top1"] <= 100
        assert ("cost_ratio" in row) == (name != RANDOM)
    assert summary["results"]["sce"]["cost_ratio"] == 1.0
    assert "use_keys" in (tmp_path / "abl" / "ablation.md").read_text()

    finished = tmp_path / "abl" / "sce" / "seed0" / "result.json"
    finished.write_text(json.dumps({**json.loads(finished.read_text()), "R@1": 123.0}))
    run_tool("ablate", "--cfg", path)  # finished runs are read back, not redone
    other = json.loads((tmp_path / "abl" / "sce" / "seed1" / "result.json").read_text())["R@1"]
    assert json.loads((tmp_path / "abl" / "ablation.json").read_text())["results"]["sce"]["R@1"] == pytest.approx((123.0 + other) / 2)
