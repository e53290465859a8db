"""The engine on a toy problem: schedules, checkpoints, resume continuing the step count."""
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from videosce.config import load_config
from videosce.engine.checkpoint import load_checkpoint, save_checkpoint
from videosce.schedules import warmup_cosine
from videosce.engine.trainer import Trainer


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


def trainer(cfg):
    """A Trainer as a job builds one: its two sections plus the run's explicit settings."""
    return Trainer(cfg.trainer, cfg.optim, device=torch.device("cpu"), output_dir=cfg.output_dir, seed=cfg.seed, resume=cfg.resume)


def test_warmup_cosine_shape():
    assert warmup_cosine(0, 100, 10, 1.0) == 0.1
    assert warmup_cosine(9, 100, 10, 1.0) == 1.0
    assert warmup_cosine(10, 100, 10, 1.0) == 1.0
    assert abs(warmup_cosine(55, 100, 10, 1.0) - 0.5) < 1e-12
    assert warmup_cosine(100, 100, 10, 1.0) == 0.0


def test_resume_continues_step_count_and_matches_uninterrupted(tmp_path):
    torch.manual_seed(0)
    full = trainer(toy_cfg(tmp_path / "full", **{"trainer.max_epochs": 4})).fit(Regressor(), Points())
    torch.manual_seed(0)
    epochs_done = []

    def crash_after_two_epochs():
        epochs_done.append(1)
        if len(epochs_done) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer(toy_cfg(tmp_path / "part", **{"trainer.max_epochs": 4})).fit(Regressor(), Points(), [crash_after_two_epochs])
    first = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.ckpt")
    assert first["global_step"] == 8 and first["epoch"] == 2  # the third epoch crashed before its save
    resumed_model = Regressor()
    trainer(toy_cfg(tmp_path / "part", **{"trainer.max_epochs": 4, "resume": "auto"})).fit(resumed_model, Points())
    last = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 16 and resumed_model.ema_calls == 8
    for a, b in zip(full.parameters(), resumed_model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    steps = [int(line.split(",")[0]) for line in (tmp_path / "part" / "train.csv").read_text().splitlines()[1:]]
    assert steps == list(range(1, 13)) + list(range(9, 17))  # epoch 3 logged, crashed, then redone


def test_checkpoint_write_is_atomic_and_pruned(tmp_path):
    trainer(toy_cfg(tmp_path, **{"trainer.max_epochs": 5, "trainer.keep_last_k": 2})).fit(Regressor(), Points())
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["best.ckpt", "epoch-0004.ckpt", "epoch-0005.ckpt", "last.ckpt"]
    save_checkpoint({"x": torch.ones(1)}, tmp_path / "a.ckpt")
    assert not list(tmp_path.glob(".*.tmp")) and load_checkpoint(tmp_path / "a.ckpt")["x"].item() == 1.0


@pytest.mark.parametrize("precision", ["bf16", "16"])
def test_mixed_precision_trains_on_cpu(tmp_path, precision):
    model = trainer(toy_cfg(tmp_path, **{"trainer.max_epochs": 1, "trainer.precision": precision})).fit(Regressor(), Points())
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 4
