"""The named options of the config, each spelled once: the config schema types its fields with
them (OmegaConf rejects any other value at load, listing these) and the modules that act on a value
import the same Enum. Torch-free, so the config can be checked before torch is imported.

A `Choice` is a `str`: it compares, hashes and formats as its value (`mode == "sce"`, f-strings,
JSON), so code written for plain strings keeps working.
"""
from __future__ import annotations

from enum import Enum
from typing import Optional


class Choice(str, Enum):
    """An Enum whose members are their own value; names equal values, so YAML holds the plain word."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def _missing_(cls, value: object) -> Optional["Choice"]:
        """`Precision(16)`: a number typed on the command line finds the member spelled the same."""
        return next((member for member in cls if member.value == str(value)), None)

    @classmethod
    def values(cls) -> tuple:
        return tuple(member.value for member in cls)


class DataFormat(Choice):
    """data.format: the split-file layout (videosce/data/datasets.py); demo = generated, UCF101 layout."""

    ucf101 = "ucf101"
    hmdb51 = "hmdb51"
    kinetics = "kinetics"
    demo = "demo"


class ClipGapDist(Choice):
    """data.clip_gap_dist: how the start of each other view is placed from view 0's (videosce/data/samplers.py)."""

    off = "off"  # independent uniform starts
    uniform = "uniform"
    cvrl = "cvrl"  # density proportional to c - t (Qian et al., CVPR 2021)


class Truncated(Choice):
    """data.truncated: what training does with a video cut short (frames end before its stated length)."""

    skip = "skip"
    use = "use"


class AugmentOn(Choice):
    """data.augment_on: where the train augmentation runs (videosce/data/train_loader.py)."""

    worker = "worker"  # per clip, where it is decoded (DataLoader workers)
    device = "device"  # in batches on the training device (videosce/data/device_augment.py)


class DecayMode(Choice):
    """method.temporal_decay_mode: where VideoMoCo's t^age enters the loss (videosce/losses/negatives.py)."""

    similarity = "similarity"  # t^age * q.u (VideoMoCo's code)
    weight = "weight"  # t^age * exp(q.u / tau)


class RetrievalMode(Choice):
    """eval.retrieval_mode: the retrieval protocol (videosce/eval/retrieval.py, docs/protocols.md)."""

    clean = "clean"
    vcop = "vcop"
    sce = "sce"


# trainer.precision: "32" | "bf16" | "16" (fp16 with loss scaling); names that are numbers need the functional form
Precision = Choice("Precision", [("32", "32"), ("bf16", "bf16"), ("16", "16")], module=__name__)

