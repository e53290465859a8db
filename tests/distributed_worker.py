"""Run by tests/test_distributed.py under torchrun (gloo, CPU): one short training per rank.

A BN-free backbone and heads are used because torch's SyncBatchNorm has no CPU kernel: with
plain BN, per-rank batch statistics would differ from one process's by design.
"""
import json
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import load_config  # noqa: E402
from videosce.engine.trainer import Trainer  # noqa: E402
from videosce.losses import SCELoss, byol_loss  # noqa: E402
from videosce.methods.densecl import DenseCLTerm  # noqa: E402
from videosce.methods.momentum import MomentumMethod  # noqa: E402
from videosce.methods.queue import QueueNegatives  # noqa: E402
from videosce.methods.simclr import SimCLR  # noqa: E402
from videosce.models import VideoBackbone  # noqa: E402
from videosce.schedules import SCESchedule  # noqa: E402
from videosce.utils import dist  # noqa: E402


class TinyConvNet(VideoBackbone):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 8, 3, padding=1)
        self.num_features = 8

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))

    def stages(self):
        return [("res5", nn.Sequential(self.conv, nn.ReLU()))]


def mlp(dim_in: int, dim_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim_in, 16), nn.ReLU(), nn.Linear(16, dim_out))


class TwoViews(Dataset):
    """Deterministic clips per index (2 global views, then `local` smaller ones); records which indices this process loaded."""

    def __init__(self, size: int = 32, local: int = 0) -> None:
        self.size, self.local, self.seen = size, local, []

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        self.seen.append(index)
        gen = torch.Generator().manual_seed(index)
        local = [torch.randn(3, 1, 4, 4, generator=gen) for _ in range(self.local)]
        return [torch.randn(3, 2, 6, 6, generator=gen) for _ in range(2)] + local, index % 3, index


def build(method: str) -> nn.Module:
    torch.manual_seed(0)
    if method == "simclr":
        return SimCLR(TinyConvNet(), mlp(8, 4), temp=0.2)
    if method == "byol":
        return MomentumMethod(TinyConvNet(), mlp(8, 4), mlp(4, 4), lambda q, k, negatives: byol_loss(q, k), momentum=0.9)
    if method == "densecl_multicrop":  # a BN-free dense head; the local views go through the BN-free backbone and heads
        terms = {"densecl": DenseCLTerm(8, "res5", 8, 4, weight=0.5, temp=0.2, queue_size=16)}
        return MomentumMethod(TinyConvNet(), mlp(8, 4), mlp(4, 4), SCELoss(0.1), momentum=0.9, negatives=QueueNegatives(16, 4),
                              schedule=SCESchedule(0.5, 0.05), terms=terms)
    return MomentumMethod(TinyConvNet(), mlp(8, 4), mlp(4, 4), SCELoss(0.1), momentum=0.9, negatives=QueueNegatives(16, 4), schedule=SCESchedule(0.5, 0.05))


def main(out_dir: str, method: str, global_batch: int, epochs: int, accumulate: int) -> None:
    world = int(__import__("os").environ.get("WORLD_SIZE", "1"))
    cfg = load_config(None, [f"output_dir={out_dir}", "data.video_root=v", "data.split_dir=s", "data.num_workers=0",
                             f"trainer.batch_size={global_batch // world // accumulate}", f"trainer.accumulate_grad_batches={accumulate}",
                             f"trainer.max_epochs={epochs}", "trainer.progress_bar=false", "trainer.log_every_n_steps=1",
                             "trainer.device=cpu", "optim.lr=0.05", "seed=3"])
    device = dist.setup(cfg.trainer.device)  # as a job does, before anything else
    dataset = TwoViews(local=2 if method.endswith("multicrop") else 0)
    trainer = Trainer(cfg.trainer, cfg.optim, device=device, output_dir=cfg.output_dir, seed=cfg.seed)
    model = trainer.fit(build(method), dataset)
    rank = dist.get_rank()
    state = {k: v.tolist() for k, v in model.state_dict().items()}
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps({"state": state, "seen": dataset.seen}))
    dist.close()  # as a job's command does: gloo aborts a process that exits holding its group


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
