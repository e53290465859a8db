"""Batched, asynchronous DALI training loader (`data.decoder=dali` in training).

One DALI pipeline per rank decodes a whole batch of videos per run: two batched external sources
feed it the encoded videos and, per video, the sorted frames that OUR sampler chose
(`VideoClipDataset.plan_clips`: random or time-based clips, clip gap, VCLR segments, local views,
temporal-difference partners), so every sampler drives it unchanged and the items equal the torch
loader's (`build_views` turns the decoded frames into views, augmented or left for the device).
DALI decodes from the first packet it is given, so the prepare threads give it only the packets
the plan needs (`dali_input`: remuxed from the keyframe before each clip) and shifted indices.
A producer thread runs ahead of the training step (`prefetch` batches queued; DALI decodes with
the GIL released), in the order of the sampler the Trainer gives it (DistributedSampler: per-rank
shards, the same per-epoch shuffle as the torch loader). With a GPU the pipeline runs NVDEC
("mixed") and hands over CUDA tensors made on a side stream; without one DALI's CPU operator
decodes VP8 / VP9 / MJPEG (how CI tests it; other codecs are refused per file, as the per-video
DALI decoder does).

Bad files are the dataset's business as with every decoder: a probe failure, a codec DALI cannot
decode, or a failed DALI run is listed in bad_videos.txt and the video substituted
(`VideoClipDataset.substitute`); a failed batch run is retried video by video on a rebuilt pipeline
(DALI invalidates a pipeline after an error), so one bad file never kills the batch. A batch run
longer than data.decode_timeout_s per video is abandoned the same way.
"""
from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Iterator, List, NamedTuple, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler, default_collate

from .datasets import ClipPlan, VideoClipDataset
from .decoders.base import DecodeError, check_file, import_optional, run_with_deadline
from .decoders.dali import PIP, check_codec, dali_input, reason
from .device_augment import collate_deferred

log = logging.getLogger(__name__)


class _Ready(NamedTuple):
    """A batch slot whose video passed the checks: `candidate` stands in for `index` after `attempt`
    failures; `frames`: the plan's wanted frames as indices into `encoded`."""

    index: int
    attempt: int
    candidate: int
    plan: ClipPlan
    encoded: np.ndarray
    frames: List[int]


class DALIBatchDecoder:
    """A DALI pipeline: encoded videos + per-video frame indices -> per-video uint8 (F,H,W,3) frames
    (torch, on `device`), a batch of up to `max_batch` videos per run."""

    def __init__(self, max_batch: int, device: torch.device, num_threads: int = 4) -> None:
        self.dali = import_optional("nvidia.dali", "dali", PIP)
        self.max_batch, self.device, self.num_threads = max_batch, device, num_threads
        self.operator_device = "mixed" if device.type == "cuda" else "cpu"
        self._pipe: Optional[Any] = None

    def _build(self) -> Any:
        dali = self.dali
        device_id = (self.device.index or 0) if self.device.type == "cuda" else None
        pipe = dali.Pipeline(batch_size=self.max_batch, num_threads=self.num_threads, device_id=device_id, prefetch_queue_depth=1)
        with pipe:
            encoded = dali.fn.external_source(name="encoded", dtype=dali.types.UINT8, ndim=1)
            frames = dali.fn.external_source(name="frames", dtype=dali.types.INT32, ndim=1)
            # pad_mode none: a frame DALI does not find is an error, never a silent black frame
            pipe.set_outputs(dali.fn.decoders.video(encoded, frames=frames, device=self.operator_device, pad_mode="none"))
        pipe.build()
        return pipe

    def decode(self, encoded: Sequence[np.ndarray], frames: Sequence[Sequence[int]], stream: Optional[torch.cuda.Stream] = None) -> List[torch.Tensor]:
        """One pipeline run; RuntimeError when DALI fails (the pipeline is rebuilt at the next call)."""
        if self._pipe is None:
            self._pipe = self._build()
        pipe = self._pipe
        try:
            with torch.cuda.stream(stream) if stream is not None else nullcontext():
                pipe.feed_input("encoded", list(encoded))
                pipe.feed_input("frames", [np.asarray(f, dtype=np.int32) for f in frames])
                (output,) = pipe.run()
                return self._to_torch(output, stream)
        except Exception:
            self.abandon(pipe)  # DALI: "Current pipeline object is no longer valid"
            raise

    def abandon(self, pipe: Any = None) -> None:
        """Build a fresh pipeline at the next run (after an error, or a run that never returned)."""
        if pipe is None or self._pipe is pipe:
            self._pipe = None

    def _to_torch(self, output: Any, stream: Optional[torch.cuda.Stream]) -> List[torch.Tensor]:
        """Copies out of DALI's buffers (reused by the next run)."""
        if self.device.type != "cuda":
            return [torch.from_numpy(np.array(output.at(i))) for i in range(len(output))]
        from nvidia.dali.plugin.pytorch import feed_ndarray

        outs = []
        for i in range(len(output)):
            sample = output.at(i)
            out = torch.empty(tuple(sample.shape()), dtype=torch.uint8, device=self.device)
            outs.append(feed_ndarray(sample, out, cuda_stream=stream))
        return outs


class DALIClipLoader:
    """Training batches of `dataset` decoded by a `DALIBatchDecoder`: `epoch(sampler)` yields
    (views, labels, indices) like a DataLoader over the same sampler (drop_last), each view (B,...)
    on the decoder's device; augmented per clip, or ClipBatches with `dataset.augment_on="device"`."""

    def __init__(self, dataset: VideoClipDataset, batch_size: int, device: torch.device, prefetch: int = 2, num_threads: int = 4) -> None:
        if prefetch < 1:
            raise ValueError(f"prefetch must be >= 1, got {prefetch}")
        self.dataset, self.batch_size, self.prefetch = dataset, batch_size, prefetch
        self.decoder = DALIBatchDecoder(batch_size, device, num_threads)
        self.device = device
        self.prepare_pool = ThreadPoolExecutor(num_threads, thread_name_prefix="dali-prepare")
        self.item_pool = ThreadPoolExecutor(num_threads, thread_name_prefix="dali-views")
        self.collate = collate_deferred if dataset.augment_on == "device" else default_collate

    def epoch(self, sampler: Sampler) -> Iterator[Any]:
        order = list(sampler)
        batches = [order[i : i + self.batch_size] for i in range(0, len(order) - self.batch_size + 1, self.batch_size)]
        ready: "queue.Queue[Any]" = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        producer = threading.Thread(target=self._produce, args=(batches, ready, stop), name="dali-producer", daemon=True)
        producer.start()
        try:
            for _ in batches:
                item = ready.get()
                if isinstance(item, BaseException):
                    raise item
                batch, event = item
                if event is not None:
                    current = torch.cuda.current_stream(self.device)
                    current.wait_event(event)
                    _record_stream(batch, current)
                yield batch
        finally:
            stop.set()
            while producer.is_alive():
                try:
                    ready.get(timeout=0.1)  # unblock a producer waiting to put
                except queue.Empty:
                    pass
            producer.join()

    def _produce(self, batches: List[List[int]], ready: "queue.Queue[Any]", stop: threading.Event) -> None:
        stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        pending = [self.prepare_pool.submit(self._prepare, i) for i in batches[0]] if batches else []
        try:
            for k in range(len(batches)):
                slots = [future.result() for future in pending]
                pending = [self.prepare_pool.submit(self._prepare, i) for i in batches[k + 1]] if k + 1 < len(batches) else []
                item = self._assemble(slots, stream)
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        pass
                if stop.is_set():
                    return
        except BaseException as error:  # handed to the training thread, which raises it
            ready.put(error)
        finally:
            for future in pending:
                future.cancel()

    def _prepare(self, index: int, first_attempt: int = 0) -> _Ready:
        """Plan `index` (probe, sampler, draws' generator) and cut out the packets the plan needs;
        unreadable videos are reported and substituted as VideoClipDataset.__getitem__ does."""
        data = self.dataset
        candidate = index if first_attempt == 0 else data.substitute(index, first_attempt - 1)
        for attempt in range(first_attempt, data.max_substitutes + 1):
            try:
                path = check_file(data.records[candidate].path)
                check_codec(path, self.decoder.operator_device)
                plan = data.plan_clips(candidate)
                encoded, rows = dali_input(path, plan.wanted)
                return _Ready(index, attempt, candidate, plan, encoded, [rows[i] for i in plan.wanted])
            except DecodeError as error:
                data.report_bad(candidate, error)
                candidate = data.substitute(index, attempt)
        raise data.too_many_in_a_row(index)

    def _decode(self, slots: Sequence[_Ready], stream: Optional[torch.cuda.Stream]) -> List[torch.Tensor]:
        """One run over `slots`; a run past data.decode_timeout_s per video raises DecodeError and
        its pipeline is abandoned (DALI cannot be interrupted)."""
        timeout = (self.dataset.timeout_s or 0) * len(slots)
        where = Path(self.dataset.records[slots[0].candidate].path) if len(slots) == 1 else Path(f"a batch of {len(slots)} videos")
        try:
            return run_with_deadline(where, timeout, "DALI decode", lambda: self.decoder.decode([s.encoded for s in slots], [s.frames for s in slots], stream))
        except DecodeError:
            self.decoder.abandon()
            raise

    def _assemble(self, slots: List[_Ready], stream: Optional[torch.cuda.Stream]) -> Any:
        with torch.cuda.stream(stream) if stream is not None else nullcontext():
            try:
                frames = self._decode(slots, stream)
            except (RuntimeError, DecodeError):
                frames = [None] * len(slots)
                for n in range(len(slots)):  # one video per run finds the bad ones; they are substituted
                    slots[n], frames[n] = self._decode_alone(slots[n], stream)
            items = list(self.item_pool.map(lambda args: self._item(*args, stream), zip(slots, frames)))
            batch = self.collate(items)
        if stream is None:
            return batch, None
        event = torch.cuda.Event()
        event.record(stream)
        return batch, event

    def _decode_alone(self, slot: _Ready, stream: Optional[torch.cuda.Stream]) -> tuple:
        while True:
            try:
                return slot, self._decode([slot], stream)[0]
            except (RuntimeError, DecodeError) as error:
                path = self.dataset.records[slot.candidate].path
                detail = error if isinstance(error, DecodeError) else DecodeError(path, f"DALI failed: {reason(error)}")
                self.dataset.report_bad(slot.candidate, detail)
                slot = self._prepare(slot.index, slot.attempt + 1)

    def _item(self, slot: _Ready, frames: torch.Tensor, stream: Optional[torch.cuda.Stream]) -> tuple:
        with torch.cuda.stream(stream) if stream is not None else nullcontext():
            views = self.dataset.build_views(slot.plan, frames)
        return views, self.dataset.records[slot.candidate].label, slot.candidate


def _record_stream(batch: Any, stream: torch.cuda.Stream) -> None:
    """Tell the caching allocator that the training stream uses the producer stream's tensors."""
    if isinstance(batch, torch.Tensor):
        if batch.is_cuda:
            batch.record_stream(stream)
    elif isinstance(batch, (list, tuple)):
        for item in batch:
            _record_stream(item, stream)
    elif hasattr(batch, "frames"):  # ClipBatch
        for tensor in (batch.frames, batch.partners, batch.factors, batch.index):
            if tensor is not None and tensor.is_cuda:
                tensor.record_stream(stream)
