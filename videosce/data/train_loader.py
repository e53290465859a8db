"""How training batches reach the step: a torch DataLoader (CPU decoders) or the batched DALI
pipeline (`data.decoder=dali`), with the augmentation done per clip where the clips are decoded
(`data.augment_on=worker`) or in batches on the training device (`data.augment_on=device`).

The dataset says which: its `decoder` and `augment_on` (videosce/data/builders.py sets both from
the config); any other dataset (e.g. the linear probe's features) gets a plain DataLoader.
"""
from __future__ import annotations

from typing import Any, Iterator, Optional

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .dali_loader import DALIClipLoader
from .datasets import VideoClipDataset
from .device_augment import DeviceAugment, collate_deferred


class TrainLoader:
    """`epoch(sampler)`: the batches of `dataset` in the sampler's order (drop_last);
    `finish(inputs)`: the inputs the model takes, once a batch is on `device`."""

    def __init__(
        self, dataset: Dataset, batch_size: int, device: torch.device, *, num_workers: int = 0, pin_memory: bool = False,
        dali_prefetch: int = 2, dali_threads: int = 4,
    ) -> None:
        self.dataset, self.batch_size, self.num_workers, self.pin_memory = dataset, batch_size, num_workers, pin_memory
        videos = isinstance(dataset, VideoClipDataset)
        on_device = videos and dataset.augment_on == "device"
        self.augment = DeviceAugment(dataset.transforms, device) if on_device else None
        self.collate = collate_deferred if on_device else None
        self.dali: Optional[DALIClipLoader] = None
        if videos and dataset.decoder == "dali":
            self.dali = DALIClipLoader(dataset, batch_size, device, prefetch=dali_prefetch, num_threads=dali_threads)

    def epoch(self, sampler: Sampler, generator: Optional[torch.Generator] = None) -> Iterator[Any]:
        """`generator` seeds the DataLoader's workers (the batched DALI pipeline has none); without
        it, they draw from torch's global generator."""
        if self.dali is not None:
            return self.dali.epoch(sampler)
        loader = DataLoader(
            self.dataset, batch_size=self.batch_size, sampler=sampler, drop_last=True, persistent_workers=False,
            num_workers=self.num_workers, pin_memory=self.pin_memory, collate_fn=self.collate, generator=generator,
        )
        return iter(loader)

    def finish(self, inputs: Any) -> Any:
        return inputs if self.augment is None else self.augment(inputs)
