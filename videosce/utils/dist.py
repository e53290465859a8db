"""Distributed helpers that are the identity in a single process, so one code path serves both."""
from __future__ import annotations

import os
import subprocess

import torch
import torch.distributed as dist

from videosce.errors import ConfigError


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def get_local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def is_main_process() -> bool:
    return get_rank() == 0


def _env_from_slurm() -> None:
    """Under `srun` (no torchrun), derive torch.distributed's env:// variables from SLURM's."""
    if "SLURM_PROCID" not in os.environ or "RANK" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return
    os.environ["RANK"] = os.environ["SLURM_PROCID"]
    os.environ["WORLD_SIZE"] = os.environ["SLURM_NTASKS"]
    os.environ["LOCAL_RANK"] = os.environ.get("SLURM_LOCALID", "0")
    if "MASTER_ADDR" not in os.environ:
        nodes = subprocess.run(["scontrol", "show", "hostnames", os.environ["SLURM_JOB_NODELIST"]], capture_output=True, text=True, check=True)
        os.environ["MASTER_ADDR"] = nodes.stdout.split()[0]
    os.environ.setdefault("MASTER_PORT", str(29500 + int(os.environ.get("SLURM_JOB_ID", "0")) % 1000))


def init_from_env(device: torch.device) -> bool:
    """Join the process group that torchrun/SLURM describe in the environment; False when alone."""
    if is_distributed():
        return True
    _env_from_slurm()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    return True


def resolve_device(name: str) -> torch.device:
    """`trainer.device`: auto (CUDA when available, else CPU), cpu, mps, cuda or cuda:<index>."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name} but no CUDA GPU is available; use trainer.device=cpu")
    return device


def setup(device_name: str) -> torch.device:
    """Join the process group torchrun/SLURM describe (if any) and return this process's device.

    Each job calls it first, before it reads a dataset index or writes anything, so that every
    rank knows its rank from then on (rank 0 alone generates demo data, writes logs and checkpoints).
    With `auto` on CUDA, each rank takes the GPU of its local rank.
    """
    device = resolve_device(device_name)
    init_from_env(device)
    if device.type == "cuda" and device_name == "auto":
        device = torch.device("cuda", get_local_rank())
        torch.cuda.set_device(device)
    return device


def close() -> None:
    """Leave the process group once a job has finished its work.

    A gloo process that exits still holding its group aborts in C++ ("terminate called without an
    active exception", exit -6) when the group's threads outlive the interpreter. Only the success
    path closes it: after an error the other ranks may sit in a collective, and torchrun ends them."""
    if is_distributed():
        dist.destroy_process_group()


@torch.no_grad()
def concat_all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` from every rank along dim 0 (rank order); no gradient flows."""
    if not is_distributed():
        return tensor
    gathered = [torch.empty_like(tensor) for _ in range(get_world_size())]
    dist.all_gather(gathered, tensor.contiguous())
    return torch.cat(gathered, dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sums every rank's gradient for this rank's slice."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        ctx.batch, ctx.rank = tensor.shape[0], get_rank()
        gathered = [torch.empty_like(tensor) for _ in range(get_world_size())]
        dist.all_gather(gathered, tensor.contiguous())
        return torch.cat(gathered, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.batch : (ctx.rank + 1) * ctx.batch]


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` from every rank along dim 0, keeping the autograd graph (SimCLR negatives)."""
    if not is_distributed():
        return tensor
    return _GatherWithGrad.apply(tensor)
