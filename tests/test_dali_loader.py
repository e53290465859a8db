"""The batched DALI training loader (videosce/data/dali_loader.py) on DALI's CPU operators (VP9):
the same items as the per-video DALI path through a DataLoader for every sampler, the sampler's
shards and per-epoch order, bad files substituted without losing the batch, decoding ahead of the
step; and, on a GPU, NVDEC batches as CUDA tensors."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import List

import av
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from videosce.config import load_config
from videosce.data import dali_loader
from videosce.data.dali_loader import DALIBatchDecoder, DALIClipLoader
from videosce.data.datasets import VideoIndex, VideoRecord, bad_videos
from videosce.data.device_augment import ClipBatch, DeviceAugment, collate_deferred

from helpers import require, train_dataset, write_vp9

SIZES = [(40, 56), (48, 64)]  # two frame sizes, so device-mode batches are padded


@pytest.fixture(scope="module")
def vp9_index(tmp_path_factory) -> VideoIndex:
    root = tmp_path_factory.mktemp("vp9")
    records = [VideoRecord(write_vp9(root / f"v{i}.webm", 24 + 3 * i, *SIZES[i % 2], seed=i), i % 3) for i in range(8)]
    return VideoIndex(records, ["a", "b", "c"])


def dataset_cfg(tmp_path: Path, *overrides: str):
    return load_config(None, ["data.video_root=v", "data.split_dir=s", f"output_dir={tmp_path}", "data.decoder=dali", "data.size=24",
                              "data.frames=4", "data.stride=2", "data.temporal_difference_p=0.5", "data.blur_p=[1.0,0.5]", *overrides])


def sampler(dataset, epoch: int = 0, rank: int = 0, world: int = 1) -> DistributedSampler:
    s = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=0, drop_last=True)
    s.set_epoch(epoch)
    return s


SAMPLERS = {
    "random clips": [],
    "time clips + clip gap": ["data.clip_duration=0.4", "data.clip_gap_dist=uniform"],
    "VCLR segments": ["method.vclr.segments=2"],
    "local views": ["data.local_views=2", "data.local_size=16", "data.local_frames=2"],
}


def same(a, b) -> None:
    """Equal batches: tensors exactly (both paths run DALI's CPU decoder on the same frames), ClipBatches field by field."""
    if isinstance(a, ClipBatch):
        assert torch.equal(a.frames, b.frames) and a.params == b.params and a.sizes == b.sizes and torch.equal(a.index, b.index)
        assert (a.partners is None) == (b.partners is None) and (a.partners is None or torch.equal(a.partners, b.partners))
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    else:
        assert torch.equal(a, b)


@pytest.mark.parametrize("augment_on", ["worker", "device"])
@pytest.mark.parametrize("sampler_name", sorted(SAMPLERS))
def test_batches_equal_the_per_video_dali_path(vp9_index, tmp_path, sampler_name, augment_on):
    """Oracle: the per-video DALI decoder (batch size 1) through a DataLoader over the same sampler."""
    require("dali")
    cfg = dataset_cfg(tmp_path, f"data.augment_on={augment_on}", *SAMPLERS[sampler_name])
    dataset = train_dataset(cfg, vp9_index, num_clips=2, local_views=cfg.data.local_views)
    loader = DALIClipLoader(dataset, batch_size=3, device=torch.device("cpu"), prefetch=2, num_threads=2)
    got = list(loader.epoch(sampler(dataset, epoch=1)))
    reference = DataLoader(dataset, batch_size=3, sampler=sampler(dataset, epoch=1), drop_last=True,
                           collate_fn=collate_deferred if augment_on == "device" else None)
    want = list(reference)
    assert len(got) == len(want) == 2
    for a, b in zip(got, want):
        same(a, b)
    if augment_on == "device":
        views = DeviceAugment(dataset.transforms, torch.device("cpu"))(got[0][0])
        assert len(views) == 2 + cfg.data.local_views and views[0].shape[-4:] == (3, 4, 24, 24)


def test_shards_and_epochs_follow_the_sampler(vp9_index, tmp_path):
    """Each rank gets its DistributedSampler shard in the sampler's per-epoch order, in batches."""
    require("dali")
    cfg = dataset_cfg(tmp_path, "data.augment_on=device")
    dataset = train_dataset(cfg, vp9_index, num_clips=2)
    loader = DALIClipLoader(dataset, batch_size=2, device=torch.device("cpu"), num_threads=2)
    seen = {}
    for epoch in (0, 1):
        for rank in (0, 1):
            order = list(sampler(dataset, epoch, rank, world=2))
            got = [i for _, _, indices in loader.epoch(sampler(dataset, epoch, rank, world=2)) for i in indices.tolist()]
            assert got == order and len(got) == 4
            seen[epoch, rank] = got
    for epoch in (0, 1):
        assert sorted(seen[epoch, 0] + seen[epoch, 1]) == list(range(8))
    assert seen[0, 0] != seen[1, 0]


def test_bad_files_are_logged_and_substituted_without_losing_the_batch(vp9_index, tmp_path, monkeypatch):
    """Garbage bytes (probe fails), H.264 (DALI's CPU operator cannot decode it) and a file DALI fails on
    inside a batch run (simulated: the run raises whenever that file is in it) are each listed once in
    bad_videos.txt and replaced by the dataset's deterministic substitute; every batch stays full."""
    require("dali")
    garbage = tmp_path / "garbage.webm"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    h264 = tmp_path / "h264.mp4"
    with av.open(str(h264), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 10, np.uint8), format="rgb24")))
        container.mux(stream.encode())
    failing = vp9_index.records[5].path
    records = vp9_index.records + [VideoRecord(garbage, 0), VideoRecord(h264, 1)]
    cfg = dataset_cfg(tmp_path, "data.max_bad_fraction=0.5")
    dataset = train_dataset(cfg, VideoIndex(records, vp9_index.classes), num_clips=2)
    loader = DALIClipLoader(dataset, batch_size=5, device=torch.device("cpu"), num_threads=2)
    real_decode, real_input, runs, failing_inputs = loader.decoder.decode, dali_loader.dali_input, [], []

    def dali_input(path, wanted):
        encoded, rows = real_input(path, wanted)
        if Path(path) == failing:
            failing_inputs.append(encoded)
        return encoded, rows

    def decode(encoded, frames, stream=None):
        runs.append(len(encoded))
        if any(e is f for e in encoded for f in failing_inputs):
            raise RuntimeError("Critical error in pipeline:\nencountered:\n[decoder] simulated failure")
        return real_decode(encoded, frames, stream)

    monkeypatch.setattr(dali_loader, "dali_input", dali_input)
    monkeypatch.setattr(loader.decoder, "decode", decode)
    order = list(range(10))
    batches = list(loader.epoch(order))
    indices = [i for _, _, idx in batches for i in idx.tolist()]
    assert len(batches) == 2 and all(len(views[0]) == 5 for views, _, _ in batches)
    assert not {5, 8, 9} & set(indices)  # never served
    for position, index in enumerate(order):
        if index in (5, 8, 9):
            substitute = next(dataset.substitute(index, a) for a in range(10) if dataset.substitute(index, a) not in (5, 8, 9))
            assert indices[position] == substitute
        else:
            assert indices[position] == index
    log = dataset.bad_video_log
    assert bad_videos(log, "train") == {str(garbage), str(h264), str(failing)}
    reasons = log.read_text()
    assert "DALI's CPU decoder cannot decode h264" in reasons and "DALI failed: simulated failure" in reasons
    assert 1 in runs  # the failed batch run was retried video by video


def test_a_real_dali_error_rebuilds_the_pipeline(vp9_index):
    """DALI leaves a pipeline unusable after an error ("no longer valid"); the next run gets a fresh one."""
    require("dali")
    decoder = DALIBatchDecoder(2, torch.device("cpu"), num_threads=1)
    good = np.fromfile(vp9_index.records[0].path, dtype=np.uint8)
    with pytest.raises(RuntimeError):
        decoder.decode([good, np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8)], [[0, 1], [0]])
    frames = decoder.decode([good, good], [[0, 3], [2]])
    assert [f.shape for f in frames] == [(2, 40, 56, 3), (1, 40, 56, 3)] and frames[0].dtype == torch.uint8


def test_decoding_runs_ahead_of_the_step(vp9_index, tmp_path):
    """While the step holds the first batch, the producer fills the prefetch queue (prefetch batches)
    and assembles one more: decoding is not in the step's critical path."""
    require("dali")
    cfg = dataset_cfg(tmp_path, "data.augment_on=device")
    dataset = train_dataset(cfg, VideoIndex(vp9_index.records * 3, vp9_index.classes), num_clips=2)
    loader = DALIClipLoader(dataset, batch_size=2, device=torch.device("cpu"), prefetch=2, num_threads=2)
    assembled: List[int] = []
    real = loader._assemble

    def counting(slots, stream):
        out = real(slots, stream)
        assembled.append(threading.get_ident())
        return out

    loader._assemble = counting
    batches = loader.epoch(list(range(24)))
    next(batches)
    deadline = time.monotonic() + 60
    while len(assembled) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(assembled) == 4  # the one taken, 2 queued, 1 waiting to be queued
    assert threading.get_ident() not in assembled
    rest = list(batches)
    assert len(rest) == 11


def test_pretraining_with_dali_and_device_augmentation(vp9_index, tmp_path):
    """The Trainer takes the batched DALI loader for data.decoder=dali (one epoch of SCE)."""
    require("dali")
    from videosce.jobs.pretrain import run as pretrain

    root = tmp_path / "videos"
    (root / "c").mkdir(parents=True)
    splits = tmp_path / "splits"
    splits.mkdir()
    lines = []
    for record in vp9_index.records:
        (root / "c" / record.path.name).symlink_to(record.path)
        lines.append(f"c/{record.path.name} 1")
    (splits / "classInd.txt").write_text("1 c\n")
    (splits / "trainlist01.txt").write_text("\n".join(lines) + "\n")
    cfg = load_config(None, [f"data.video_root={root}", f"data.split_dir={splits}", f"output_dir={tmp_path / 'run'}", "data.decoder=dali",
                             "data.augment_on=device", "data.size=24", "data.frames=4", "data.stride=2", "model.backbone=r3d_tiny",
                             "method.queue_size=16", "trainer.max_epochs=1", "trainer.batch_size=4", "trainer.progress_bar=false",
                             "trainer.log_every_n_steps=1", "eval.retrieval_at_end=false", "trainer.device=cpu"])
    pretrain(cfg)
    rows = (tmp_path / "run" / "train.csv").read_text().splitlines()
    assert len(rows) == 3  # header + 2 steps of 4 videos
    assert not (tmp_path / "run" / "bad_videos.txt").exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="NVDEC needs a CUDA GPU")
def test_nvdec_batches_are_cuda_tensors_matching_pyav(demo_root, tmp_path):
    """On a GPU the pipeline decodes H.264 with NVDEC ("mixed") and hands CUDA frames to the step;
    they match the PyAV-decoded frames within DALI's colour tolerance (tests/test_decoders.py)."""
    require("dali")
    from test_decoders import DALI_TOLERANCE

    from helpers import demo_data
    from videosce.data.datasets import read_index

    cfg = load_config(None, [*demo_data(demo_root), f"output_dir={tmp_path}", "data.decoder=dali", "data.augment_on=device"])
    index = read_index(cfg.data, "train")
    dataset = train_dataset(cfg, index, num_clips=2)
    loader = DALIClipLoader(dataset, batch_size=4, device=torch.device("cuda"), prefetch=2, num_threads=2)
    views, _, indices = next(loader.epoch(list(range(8))))
    assert all(v.frames.is_cuda for v in views)
    reference = train_dataset(load_config(None, [*demo_data(demo_root), f"output_dir={tmp_path}", "data.augment_on=device"]), index, num_clips=2)
    want = collate_deferred([reference[i] for i in indices.tolist()])[0]
    for got, expected in zip(views, want):
        assert got.params == expected.params
        error = (got.frames.cpu().int() - expected.frames.int()).abs()
        assert error.max() <= DALI_TOLERANCE["max"] and error.float().mean() <= DALI_TOLERANCE["mean"]
    out = DeviceAugment(dataset.transforms, torch.device("cuda"))(views)
    assert out[0].is_cuda and out[0].shape == (4, 3, cfg.data.frames, cfg.data.size, cfg.data.size)
