"""Wall and CPU time of retrieval R@k (recall_at_k) on random class-structured features, after extraction."""
from __future__ import annotations

import time
from typing import Dict, List, NamedTuple

import torch

from videosce.eval.ranking import recall_at_k


class RecallTiming(NamedTuple):
    seconds: List[float]  # wall time of each repeat
    cpu_seconds: List[float]  # process CPU time of each repeat (all threads)
    recalls: Dict[int, float]  # R@k of the last repeat, percent


def time_recall_at_k(queries: int, gallery: int, dim: int, classes: int, repeats: int, noise: float) -> RecallTiming:
    """`repeats` timed calls on features = class centre (unit variance) + `noise` * N(0, 1) per dimension, seed 0."""
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(classes, dim, generator=gen)
    q_labels = torch.randint(classes, (queries,), generator=gen)
    g_labels = torch.randint(classes, (gallery,), generator=gen)
    q_feats = centres[q_labels] + noise * torch.randn(queries, dim, generator=gen)
    g_feats = centres[g_labels] + noise * torch.randn(gallery, dim, generator=gen)
    times, cpu, recalls = [], [], {}
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        recalls = recall_at_k(q_feats, q_labels, g_feats, g_labels)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return RecallTiming(times, cpu, recalls)
