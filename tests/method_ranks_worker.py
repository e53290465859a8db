"""Run by tests/test_distributed.py, alone or under torchrun (gloo, CPU): three optimizer steps of
the registered momentum methods (r3d_tiny, BatchNorm projector) on one fixed global batch.

The global batch is 4 videos followed by the same 4 in reverse order; with 2 ranks, rank 0 gets the
first half and rank 1 the second. Each rank's batch is then a permutation of the other's, so every
BatchNorm layer (backbone, projector, target) sees the statistics one process sees on the global
batch (a multiset of each video twice): per-rank BN equals one-process BN here, while every rank
still holds different queries at different positions (use_keys' offsets, MoCHi's rows, the gathered
NT-Xent).
The network runs in float64 (the losses and the queue stay float32), so the two runs' rounding
differences stay far below the differences a wrong rank offset or draw would make.
"""
import os
import sys
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import load_config  # noqa: E402
from videosce.methods import build_method  # noqa: E402
from videosce.utils import dist  # noqa: E402

CASES = {
    "sce": [],
    "use_keys": ["method.use_keys=true"],
    "mochi": ["method.mochi.num_hard=8", "method.mochi.num_mix=4", "method.mochi.num_mix_query=2"],
    "inter_intra_coherent": ["method.inter_intra.coherent_weight=1"],  # the NT-Xent over every rank's series features
}
STEPS = 3


def global_batch() -> list:
    gen = torch.Generator().manual_seed(0)
    views = [torch.randn(4, 3, 4, 16, 16, generator=gen) for _ in range(2)]
    return [torch.cat([v, v.flip(0)]) for v in views]


def run(case: str) -> dict:
    cfg = load_config(None, ["output_dir=o", "data.video_root=v", "data.split_dir=s", "model.backbone=r3d_tiny", "model.proj_hidden_dim=32",
                             "model.proj_dim=16", "model.pred_hidden_dim=32", "method.queue_size=32", "seed=5", *CASES[case]])
    torch.manual_seed(0)
    model = build_method(cfg.model, cfg.method, seed=cfg.seed).double()
    wrapped = DistributedDataParallel(model) if dist.is_distributed() else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    world, rank = dist.get_world_size(), dist.get_rank()
    views = [v.double().chunk(world)[rank] for v in global_batch()]
    losses, grads = [], []
    for step in range(STEPS):
        optimizer.zero_grad()
        loss = wrapped(views)["loss"]
        loss.backward()
        mean_loss = loss.detach().clone()
        if dist.is_distributed():
            torch.distributed.all_reduce(mean_loss)
            mean_loss /= world
        losses.append(float(mean_loss))
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
        optimizer.step()
        model.after_optimizer_step(step + 1, STEPS)
    state = {k: v.clone() for k, v in model.state_dict().items() if v.is_floating_point()}
    return {"losses": losses, "grads": grads, "state": state}


def main(out_dir: str) -> None:
    dist.setup("cpu")
    results = {case: run(case) for case in CASES}
    torch.save(results, Path(out_dir, f"rank{dist.get_rank()}.pt"))
    dist.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    os.makedirs(sys.argv[1], exist_ok=True)
    main(sys.argv[1])
