"""What a training run does on CUDA and CI cannot: AMP fp16/bf16 steps, channels_last inputs,
torch.compile, the CUDA generator in checkpoints (resume exactness), SyncBatchNorm. All marked
`gpu`; they skip cleanly without CUDA (tools/gpu_check.sh runs them on a GPU machine)."""
from __future__ import annotations

import os

import pytest
import torch
from helpers import interrupt_at_epoch_end
from torch import nn
from torch.utils.data import Dataset

from videosce.config import config_dict, load_config
from videosce.engine.checkpoint import load_checkpoint
from videosce.engine.trainer import Trainer
from videosce.methods import build_method

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

SMALL = ["data.video_root=v", "data.split_dir=s", "data.num_workers=0", "data.frames=4", "data.size=32", "model.backbone=r3d_tiny",
         "model.proj_hidden_dim=32", "model.proj_dim=16", "model.pred_hidden_dim=32", "method.queue_size=32", "trainer.batch_size=4",
         "trainer.progress_bar=false", "trainer.log_every_n_steps=1", "trainer.device=cuda", "optim.lr=0.05"]


class RandomClips(Dataset):
    """Two random views per item, a fixed function of the index (so runs compare exactly)."""

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int):
        g = torch.Generator().manual_seed(i)
        return [torch.randn(3, 4, 32, 32, generator=g) for _ in range(2)], i % 2, i


def trainer(cfg) -> Trainer:
    """A Trainer as a job builds one, on the GPU."""
    return Trainer(cfg.trainer, cfg.optim, device=torch.device("cuda", torch.cuda.current_device()), output_dir=cfg.output_dir, seed=cfg.seed,
                   resume=cfg.resume, run_config=config_dict(cfg))


def cfg_for(tmp_path, *overrides):
    return load_config(None, [*SMALL, f"output_dir={tmp_path}", *overrides])


def first_conv(model: nn.Module) -> nn.Conv3d:
    return next(m for m in model.backbone.modules() if isinstance(m, nn.Conv3d))


@pytest.mark.parametrize("precision,dtype", [("bf16", torch.bfloat16), ("16", torch.float16)])
def test_amp_steps_run_in_the_low_precision_and_stay_finite(tmp_path, precision, dtype):
    cfg = cfg_for(tmp_path, f"trainer.precision={precision}", "trainer.max_epochs=1")
    torch.manual_seed(0)
    model = build_method(cfg.model, cfg.method, seed=0)
    seen = []
    first_conv(model).register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    trained = trainer(cfg).fit(model, RandomClips())
    assert seen and set(seen) == {dtype}
    assert all(torch.isfinite(p).all() for p in trained.parameters())
    state = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert state["global_step"] == 4 and (precision != "16" or state["scaler"]["scale"] > 0)


def test_channels_last_converts_the_weights_and_the_input_clips(tmp_path):
    cfg = cfg_for(tmp_path, "model.channels_last=true")
    model = build_method(cfg.model, cfg.method, seed=0).cuda()
    conv = first_conv(model)
    seen = []
    conv.register_forward_pre_hook(lambda module, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last_3d)))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    views = [v.cuda() for v in RandomClips()[0][0]]  # plain contiguous clips, as the loader hands them over
    model([v[None].expand(4, -1, -1, -1, -1).contiguous() for v in views])
    assert seen and all(seen)


def test_compiled_backbone_matches_eager():
    from videosce.models import build_backbone

    torch.manual_seed(0)
    eager = build_backbone("r3d_tiny").cuda().eval()
    compiled = build_backbone("r3d_tiny", compile=True).cuda().eval()
    compiled.load_state_dict(eager.state_dict())
    x = torch.randn(2, 3, 4, 32, 32, device="cuda")
    with torch.no_grad():
        assert torch.allclose(compiled(x), eager(x), atol=1e-4, rtol=1e-4)


class NoisyRegressor(nn.Module):
    """Dropout on the GPU: the CUDA generator decides every step, so a resume without its state diverges."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def forward(self, inputs, labels):
        x = nn.functional.dropout(inputs[0], p=0.5, training=True)
        return {"loss": ((self.layer(x).squeeze(1) - labels.float()) ** 2).mean()}


class Points(Dataset):
    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int):
        return [torch.tensor([float(i), 1.0])], i % 2, i


def test_resume_restores_the_cuda_generator_exactly(tmp_path):
    def cfg(out, **extra):
        return load_config(None, ["data.video_root=v", "data.split_dir=s", "data.num_workers=0", "trainer.batch_size=4", "trainer.device=cuda",
                                  "trainer.progress_bar=false", "optim.lr=0.01", f"output_dir={out}", *[f"{k}={v}" for k, v in extra.items()]])

    torch.manual_seed(0)
    torch.cuda.manual_seed(0)
    full = trainer(cfg(tmp_path / "full", **{"trainer.max_epochs": 4})).fit(NoisyRegressor(), Points())
    torch.manual_seed(0)
    torch.cuda.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        trainer(cfg(tmp_path / "part", **{"trainer.max_epochs": 4})).fit(NoisyRegressor(), Points(), [interrupt_at_epoch_end(3)])
    assert load_checkpoint(tmp_path / "part" / "checkpoints" / "last.ckpt")["rng"]["cuda"].shape[0] == 1
    torch.cuda.manual_seed(123)  # a fresh process would start from another CUDA state
    resumed = trainer(cfg(tmp_path / "part", **{"trainer.max_epochs": 4, "resume": "auto"})).fit(NoisyRegressor(), Points())
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_sync_bn_in_a_one_rank_group_equals_batch_norm(tmp_path):
    """trainer.sync_bn converts every BatchNorm; with one rank its statistics are plain BatchNorm's."""
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29533")
    dist.init_process_group("nccl", rank=0, world_size=1)
    try:
        cfg = cfg_for(tmp_path / "sync", "trainer.sync_bn=true", "trainer.max_epochs=1", "method.name=byol")
        torch.manual_seed(0)
        synced = trainer(cfg).fit(build_method(cfg.model, cfg.method, seed=0), RandomClips())
        assert any(isinstance(m, nn.SyncBatchNorm) for m in synced.modules())
    finally:
        dist.destroy_process_group()
    cfg = cfg_for(tmp_path / "plain", "trainer.max_epochs=1", "method.name=byol")
    torch.manual_seed(0)
    plain = trainer(cfg).fit(build_method(cfg.model, cfg.method, seed=0), RandomClips())
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in plain.modules())
    for (name, a), b in zip(synced.state_dict().items(), plain.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-4), name
