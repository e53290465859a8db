"""The engine on a toy problem: schedules, checkpoints, resume continuing the step count."""
import pytest
import torch
from helpers import interrupt_at_epoch_end
from torch import nn
from torch.utils.data import Dataset

from videosce.config import config_dict, load_config
from videosce.engine.checkpoint import load_checkpoint, save_checkpoint
from videosce.engine.trainer import Trainer
from videosce.schedules import warmup_cosine


class Points(Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        x = torch.tensor([float(i), 1.0])
        return [x], torch.tensor(i % 2), i


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 1)
        self.ema_calls = 0

    def forward(self, inputs, labels):
        return {"loss": ((self.layer(inputs[0]).squeeze(1) - labels.float()) ** 2).mean()}

    def after_optimizer_step(self, step, max_steps):
        self.ema_calls += 1
        return {"progress": step / max_steps}


def toy_cfg(tmp_path, **overrides):
    items = [f"output_dir={tmp_path}", "data.video_root=v", "data.split_dir=s", "data.num_workers=0", "trainer.batch_size=4",
             "trainer.progress_bar=false", "trainer.log_every_n_steps=1", "optim.lr=0.01", "trainer.device=cpu"]
    return load_config(None, items + [f"{k}={v}" for k, v in overrides.items()])


def make_trainer(cfg):
    """A Trainer as a job builds one: its two sections plus the run's explicit settings and config record."""
    return Trainer(cfg.trainer, cfg.optim, device=torch.device("cpu"), output_dir=cfg.output_dir, seed=cfg.seed, resume=cfg.resume,
                   run_config=config_dict(cfg))


def test_warmup_cosine_shape():
    assert warmup_cosine(0, 100, 10, 1.0) == 0.1
    assert warmup_cosine(9, 100, 10, 1.0) == 1.0
    assert warmup_cosine(10, 100, 10, 1.0) == 1.0
    assert abs(warmup_cosine(55, 100, 10, 1.0) - 0.5) < 1e-12
    assert warmup_cosine(100, 100, 10, 1.0) == 0.0


def test_resume_continues_step_count_and_matches_uninterrupted(tmp_path):
    torch.manual_seed(0)
    full = make_trainer(toy_cfg(tmp_path / "full", **{"trainer.max_epochs": 4})).fit(Regressor(), Points())
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        make_trainer(toy_cfg(tmp_path / "part", **{"trainer.max_epochs": 4})).fit(Regressor(), Points(), [interrupt_at_epoch_end(3)])
    first = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.ckpt")
    assert first["global_step"] == 8 and first["epoch"] == 2  # the third epoch crashed before its save
    resumed_model = Regressor()
    make_trainer(toy_cfg(tmp_path / "part", **{"trainer.max_epochs": 4, "resume": "auto"})).fit(resumed_model, Points())
    last = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 16 and resumed_model.ema_calls == 8
    for a, b in zip(full.parameters(), resumed_model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    steps = [int(line.split(",")[0]) for line in (tmp_path / "part" / "train.csv").read_text().splitlines()[1:]]
    assert steps == list(range(1, 13)) + list(range(9, 17))  # epoch 3 logged, crashed, then redone


class WithBackbone(Regressor):
    """A model whose `backbone` the trainer exports (pretraining and finetuning models have one)."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(2, 2)

    def forward(self, inputs, labels):
        return {"loss": ((self.layer(self.backbone(inputs[0])).squeeze(1) - labels.float()) ** 2).mean()}


def test_full_state_once_and_backbone_exports(tmp_path):
    model = make_trainer(toy_cfg(tmp_path, **{"trainer.max_epochs": 5, "trainer.keep_last_k": 2})).fit(WithBackbone(), Points())
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["backbone-epoch-0003.pt", "backbone-epoch-0004.pt", "backbone.pt", "last.ckpt"]
    final = load_checkpoint(tmp_path / "checkpoints" / "backbone.pt")
    assert set(final["state_dict"]) == {"weight", "bias"} and final["epoch"] == 5 and final["global_step"] == 20
    assert all(torch.equal(final["state_dict"][k], v) for k, v in model.backbone.state_dict().items())
    assert final["config"]["trainer"]["max_epochs"] == 5 and isinstance(final["config"], dict)
    assert load_checkpoint(tmp_path / "checkpoints" / "backbone-epoch-0004.pt")["epoch"] == 4
    full = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert {"model", "optimizer", "rng"} <= set(full) and "backbone.weight" in full["model"]
    save_checkpoint({"x": torch.ones(1)}, tmp_path / "a.ckpt")
    assert not list(tmp_path.glob(".*.tmp")) and load_checkpoint(tmp_path / "a.ckpt")["x"].item() == 1.0


def test_models_without_backbone_keep_only_the_full_state(tmp_path):
    make_trainer(toy_cfg(tmp_path, **{"trainer.max_epochs": 2})).fit(Regressor(), Points())
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.ckpt"]


def test_best_backbone_is_named_for_its_metric_and_survives_resume(tmp_path):
    """Monitor values 10, 30 | crash | 20, 25: the best export stays epoch 2's, across the resume."""
    scores = {1: 10.0, 2: 30.0, 3: 20.0, 4: 25.0}
    def monitor(epoch):
        return {"knn_top1": scores[epoch]}

    with pytest.raises(KeyboardInterrupt):
        make_trainer(toy_cfg(tmp_path, **{"trainer.max_epochs": 4})).fit(WithBackbone(), Points(), [interrupt_at_epoch_end(3)], monitor, "knn_top1")
    make_trainer(toy_cfg(tmp_path, **{"trainer.max_epochs": 4, "resume": "auto"})).fit(WithBackbone(), Points(), [], monitor, "knn_top1")
    best = load_checkpoint(tmp_path / "checkpoints" / "backbone-best-knn_top1.pt")
    assert best["epoch"] == 2 and best["knn_top1"] == 30.0
    assert not (tmp_path / "checkpoints" / "best.ckpt").exists()


@pytest.mark.parametrize("native", [True, False])
def test_fp16_on_cpu_is_replaced_with_one_line(tmp_path, caplog, monkeypatch, native):
    """Whether this CPU has native bf16 or not is faked both ways (a toy model trains in either)."""
    from videosce.engine import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    used = "bf16" if native else "32"
    with caplog.at_level("WARNING", logger="videosce.engine.trainer"):
        trainer = make_trainer(toy_cfg(tmp_path, **{"trainer.max_epochs": 1, "trainer.precision": "16"}))
        model = trainer.fit(Regressor(), Points())
    lines = [r.getMessage() for r in caplog.records if "trainer.precision" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("trainer.precision=16 is slow on CPU (fp16 autocast has no fast CPU kernels")
    assert lines[0].endswith(f"using trainer.precision={used} instead")
    assert trainer.autocast_dtype == (torch.bfloat16 if native else None) and not trainer.scaler.is_enabled()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["config"]["trainer"]["precision"] == used


@pytest.mark.parametrize("native", [True, False])
def test_runnable_precision_table(monkeypatch, native):
    """The rules of videosce/engine/precision.py, CPU bf16 support faked both ways, a pre-Ampere GPU faked."""
    from videosce.engine import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    used = {(d.type, p): precision.runnable_precision(p, d)[0] for d in (cpu, gpu) for p in ("32", "bf16", "16")}
    assert used == {("cpu", "32"): "32", ("cpu", "bf16"): "bf16" if native else "32", ("cpu", "16"): "bf16" if native else "32",
                    ("cuda", "32"): "32", ("cuda", "bf16"): "16", ("cuda", "16"): "16"}


def test_bf16_trains_on_cpu_where_native(tmp_path):
    from videosce.engine.precision import cpu_has_native_bf16

    trainer = make_trainer(toy_cfg(tmp_path, **{"trainer.max_epochs": 1, "trainer.precision": "bf16"}))
    model = trainer.fit(Regressor(), Points())
    assert trainer.tcfg.precision == ("bf16" if cpu_has_native_bf16() else "32")
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 4
