"""Index readers for the official split files, and the multi-clip video dataset.

Readers return `VideoRecord`s; they raise `SplitFormatError` naming file and line for a
malformed entry (bad format, non-integer label, unknown class, bytes that are not UTF-8; a
leading UTF-8 BOM is accepted), use a repeated entry once (one warning with the count), and
report (never silently drop) listed videos that cannot be read, with the reason of each.
"""
from __future__ import annotations

import csv
import fcntl
import io
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from videosce.choices import AugmentOn, DataFormat
from videosce.errors import UserError

from .decoders import DecodeError, VideoInfo, decode_frames, frame_timestamps, probe_video
from .decoders.base import file_problem
from .device_augment import defer_clip, stack_segments
from .samplers import (ClipGap, difference_pairs, random_clips, random_time_clips, segment_clips, segment_time_clips, uniform_clips,
                       uniform_time_clips)

log = logging.getLogger(__name__)

SUBSETS = ("train", "test")
ClipTransform = Callable[[torch.Tensor, np.random.Generator], torch.Tensor]


class SplitFormatError(UserError, ValueError):
    """A split/index file that does not follow the official format."""


class TooManyBadVideos(UserError):
    """More of a dataset's videos are unreadable than `data.max_bad_fraction` allows."""


@dataclass(frozen=True)
class VideoRecord:
    path: Path
    label: int


@dataclass(frozen=True)
class VideoIndex:
    records: List[VideoRecord]
    classes: List[str]
    skipped: List[Tuple[Path, str]] = field(default_factory=list)  # listed videos that cannot be read: (path, reason)


Entry = Tuple[VideoRecord, Path, int]  # a record and where it is listed: (split file, line)


def shown(text: str) -> str:
    """`text` for a one-line message: invisible characters (a stray BOM, tabs, control bytes) as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _read_text(path: Path) -> str:
    """A split file's text: UTF-8, with the BOM that Windows tools put first dropped."""
    if not path.is_file():
        raise SplitFormatError(f"split file not found: {path}")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SplitFormatError(
            f"{path}:{line}: byte 0x{data[exc.start]:02x} is not UTF-8; save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None


def _lines(path: Path) -> List[Tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(_read_text(path).splitlines(), 1) if line.strip()]


def _check_subset(subset: str) -> None:
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got '{subset}'")


def read_ucf101(video_root: str | Path, split_dir: str | Path, split: int, subset: str) -> VideoIndex:
    """classInd.txt ("1 ApplyEyeMakeup"), trainlist0N.txt ("Class/v_x.avi 1"), testlist0N.txt ("Class/v_x.avi")."""
    _check_subset(subset)
    video_root, split_dir = Path(video_root), Path(split_dir)
    class_file = split_dir / "classInd.txt"
    classes: Dict[str, int] = {}
    for n, line in _lines(class_file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdecimal():
            raise SplitFormatError(f"{class_file}:{n}: expected '<index> <ClassName>', got '{shown(line)}'")
        classes[parts[1]] = int(parts[0]) - 1
    if sorted(classes.values()) != list(range(len(classes))):
        raise SplitFormatError(f"{class_file}: class indices must be 1..{len(classes)} without gaps")
    list_file = split_dir / f"{subset}list0{split}.txt"
    entries: List[Entry] = []
    for n, line in _lines(list_file):
        parts = line.split()
        class_name = parts[0].split("/")[0]
        if "/" not in parts[0] or len(parts) > 2:
            raise SplitFormatError(f"{list_file}:{n}: expected '<ClassName>/<file> [label]' (no spaces in file names), got '{shown(line)}'")
        if class_name not in classes:
            raise SplitFormatError(f"{list_file}:{n}: class '{shown(class_name)}' is not in {class_file}")
        label = classes[class_name]
        if len(parts) == 2 and not parts[1].isdecimal():
            raise SplitFormatError(
                f"{list_file}:{n}: label '{shown(parts[1])}' is not an integer (a file name with a space?); "
                f"expected '<ClassName>/<file> [label]', got '{shown(line)}'"
            )
        if len(parts) == 2 and int(parts[1]) - 1 != label:
            raise SplitFormatError(f"{list_file}:{n}: label {parts[1]} contradicts class '{class_name}' ({label + 1})")
        entries.append((VideoRecord(video_root / parts[0], label), list_file, n))
    names = [name for name, _ in sorted(classes.items(), key=lambda item: item[1])]
    return _index(entries, names, list_file)


def read_hmdb51(video_root: str | Path, split_dir: str | Path, split: int, subset: str) -> VideoIndex:
    """`<class>_test_split<N>.txt` with lines "<file.avi> <flag>", flag 1 = train, 2 = test, 0 = unused."""
    _check_subset(subset)
    video_root, split_dir = Path(video_root), Path(split_dir)
    files = sorted(split_dir.glob(f"*_test_split{split}.txt"))
    if not files:
        raise SplitFormatError(f"no '*_test_split{split}.txt' files in {split_dir}")
    classes = [f.name[: -len(f"_test_split{split}.txt")] for f in files]
    wanted = "1" if subset == "train" else "2"
    entries: List[Entry] = []
    for label, (name, file) in enumerate(zip(classes, files)):
        for n, line in _lines(file):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise SplitFormatError(f"{file}:{n}: expected '<file> <0|1|2>' (no spaces in file names), got '{shown(line)}'")
            if parts[1] == wanted:
                entries.append((VideoRecord(video_root / name / parts[0], label), file, n))
    return _index(entries, classes, split_dir)


KINETICS_SPLIT_FILES = {"train": ("train.csv",), "test": ("validate.csv", "val.csv")}


def _kinetics_csv(split_dir: Path, subset: str) -> Optional[Path]:
    """The subset's CSV: DeepMind's archives name the validation list validate.csv, the CVDF mirror val.csv."""
    return next((split_dir / name for name in KINETICS_SPLIT_FILES[subset] if (split_dir / name).is_file()), None)


def _kinetics_rows(csv_file: Path) -> List[Tuple[int, Dict[str, str]]]:
    """(line number, row) of every row; a row without exactly the header's fields is an error."""
    reader = csv.DictReader(io.StringIO(_read_text(csv_file), newline=""))
    required = {"label", "youtube_id", "time_start", "time_end"}
    if not required.issubset(reader.fieldnames or ()):
        raise SplitFormatError(f"{csv_file}:1: header must contain {sorted(required)}, got {[shown(f) for f in reader.fieldnames or ()]}")
    rows = []
    for row in reader:
        if None in row or None in row.values():
            raise SplitFormatError(f"{csv_file}:{reader.line_num}: expected the {len(reader.fieldnames)} fields of the header {reader.fieldnames}")
        rows.append((reader.line_num, row))
    return rows


def read_kinetics(video_root: str | Path, split_dir: str | Path, subset: str) -> VideoIndex:
    """Official Kinetics-400/600/700 CSV (label, youtube_id, time_start, time_end, split[, is_cc]);
    train = train.csv, test = validate.csv or val.csv.

    Labels are numbered in sorted order of train.csv's class names whichever subset is read, so the
    train and test subsets agree even when a class is missing from one list. Videos are found
    anywhere under `video_root` by name `<youtube_id>_<start:06d>_<end:06d>.<ext>` (the usual
    downloader naming) or `<youtube_id>.<ext>`.
    """
    _check_subset(subset)
    video_root, split_dir = Path(video_root), Path(split_dir)
    csv_file = _kinetics_csv(split_dir, subset)
    if csv_file is None:
        raise SplitFormatError(f"split file not found: {' or '.join(str(split_dir / n) for n in KINETICS_SPLIT_FILES[subset])}")
    rows = _kinetics_rows(csv_file)
    train_csv = _kinetics_csv(split_dir, "train")
    class_rows = rows if subset == "train" or train_csv is None else _kinetics_rows(train_csv)
    classes = sorted({row["label"] for _, row in class_rows})
    label_of = {name: i for i, name in enumerate(classes)}
    on_disk: Dict[str, Path] = {}
    for dirpath, _, filenames in os.walk(video_root):
        for filename in filenames:
            on_disk.setdefault(Path(filename).stem, Path(dirpath) / filename)
    entries: List[Entry] = []
    not_found: List[Tuple[Path, str]] = []
    for n, row in rows:
        if row["label"] not in label_of:
            raise SplitFormatError(f"{csv_file}:{n}: class '{shown(row['label'])}' is not in {train_csv}")
        try:
            stem = f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"
        except ValueError:
            raise SplitFormatError(f"{csv_file}:{n}: time_start/time_end must be numbers") from None
        path = on_disk.get(stem) or on_disk.get(row["youtube_id"])
        if path is None:
            not_found.append((video_root / f"{stem}.*", "file not found"))
        else:
            entries.append((VideoRecord(path, label_of[row["label"]]), csv_file, n))
    return _index(entries, classes, csv_file, not_found)


def _unique(entries: Sequence[Entry]) -> List[VideoRecord]:
    """Each video once, in listed order. A repeated entry is dropped, all of them counted in one
    warning; the same video listed with two classes is an error (which one is right cannot be guessed)."""
    first: Dict[Path, Entry] = {}
    repeats: List[Entry] = []
    for entry in entries:
        record, file, line = entry
        seen = first.setdefault(record.path, entry)
        if seen is entry:
            continue
        if seen[0].label != record.label:
            raise SplitFormatError(f"{file}:{line}: {record.path} is listed again with another class (first at {seen[1]}:{seen[2]}); keep one entry")
        repeats.append(entry)
    if repeats:
        record, file, line = repeats[0]
        seen = first[record.path]
        log.warning("%d duplicate split entries ignored, each video is used once (e.g. %s:%d repeats %s:%d, %s)",
                    len(repeats), file, line, seen[1], seen[2], record.path)
    return [record for record, _, _ in first.values()]


def _index(entries: Sequence[Entry], classes: List[str], source: Path, not_found: Sequence[Tuple[Path, str]] = ()) -> VideoIndex:
    """The readable records; the others are kept with their reason and summarised in one warning."""
    records = _unique(entries)
    skipped = list(not_found)
    readable = []
    for record in records:
        problem = file_problem(record.path)
        if problem:
            skipped.append((record.path, problem))
        else:
            readable.append(record)
    if skipped:
        counts = Counter(reason for _, reason in skipped)
        example = {reason: path for path, reason in reversed(skipped)}
        reasons = ", ".join(f"{count} {reason} (e.g. {example[reason]})" for reason, count in counts.most_common())
        log.warning("%s: %d of %d listed videos cannot be read and are skipped: %s; tools/check_dataset.py lists them all",
                    source, len(skipped), len(records) + len(not_found), reasons)
    return VideoIndex(readable, classes, skipped)


def read_index(data_cfg, subset: str) -> VideoIndex:
    """The records of `subset` ('train' | 'test') for `data.format` (demo: the UCF101 layout the jobs
    generate first, `videosce.data.demo.ensure_demo_dataset`); reads files, writes nothing."""
    fmt = data_cfg.format
    if fmt in (DataFormat.ucf101, DataFormat.demo):
        index = read_ucf101(data_cfg.video_root, data_cfg.split_dir, data_cfg.split, subset)
    elif fmt == DataFormat.hmdb51:
        index = read_hmdb51(data_cfg.video_root, data_cfg.split_dir, data_cfg.split, subset)
    else:
        index = read_kinetics(data_cfg.video_root, data_cfg.split_dir, subset)
    if not index.records:
        raise SplitFormatError(f"no readable videos for data.format={data_cfg.format} subset={subset} under {data_cfg.video_root}")
    return index


class ClipPlan(NamedTuple):
    """What an item decodes, before decoding: its generator (the augmentation draws continue from it),
    its clips' frame indices and the sorted unique frames to decode."""

    index: int
    rng: np.random.Generator
    clips: List[List[int]]
    wanted: List[int]


class VideoClipDataset(Dataset):
    """Each item: `num_clips` clips of one video, decoded in one pass and augmented per clip.

    Clips are `frames` frames at `stride`, or, with `clip_duration` > 0 seconds, `frames` frames
    uniformly subsampled from a window of that duration located by the frame timestamps
    (robust to variable frame rates and wrong metadata). Train mode draws clips at random positions and returns (list of clips, label, index); eval
    mode takes uniformly spaced clips and returns (stacked clips (K,3,T,S,S), label, index).
    Randomness is a function of (seed, epoch, index), so runs and resumes are reproducible.
    An unreadable video (undecodable, frames above `max_pixels`, or cut short while `truncated`
    is "skip") is listed in `bad_video_log` (see `append_bad_video`); training substitutes another
    video deterministically, eval returns index -1 so the caller drops and counts it. A cut-short
    video used anyway (`truncated="use"`) is listed as used. Once more than `max_bad_fraction` of
    the videos were skipped, TooManyBadVideos stops the run (counted in the log, which the
    DataLoader workers and ranks share).
    Train-mode options (samplers.py): `clip_gap` bounds/draws the distance between the views' starts
    (frames, or seconds with `clip_duration`); `segments` = S > 0 makes each view S clips, one per
    equal segment (VCLR), returned as a (S,3,T,H,W) tensor with one augmentation drawn per view;
    `local_views` = N > 0 appends N local clips (multi-crop) of `local_frames` frames at the same
    stride (with `clip_duration`, over the same fraction of it: about the same frame spacing),
    independent uniform starts, each through its own transform (`transform[num_clips + n]`).
    `augment_on` "device" (train mode): views are RawClips (uint8 frames + the drawn ClipParams) that
    videosce/data/device_augment.py augments in batches on the training device; collate with
    `collate_deferred`. `plan_clips` / `build_views` are the halves around decoding, so a batched
    decoder (videosce/data/dali_loader.py) produces the same items.
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        transform: ClipTransform | Sequence[ClipTransform],
        frames: int,
        stride: int,
        num_clips: int,
        train: bool,
        decoder: str = "pyav",
        seed: int = 0,
        bad_video_log: Optional[str | Path] = None,
        max_substitutes: int = 10,
        clip_duration: float = 0.0,
        decode_timeout_s: float = 0.0,
        clip_gap: Optional[ClipGap] = None,
        segments: int = 0,
        stage: str = "",
        max_pixels: int = 0,
        truncated: str = "skip",
        max_bad_fraction: Optional[float] = None,
        local_views: int = 0,
        local_frames: Optional[int] = None,
        augment_on: AugmentOn | str = AugmentOn.worker,
    ) -> None:
        if augment_on not in AugmentOn.values() or (augment_on == AugmentOn.device and not train):
            raise ValueError(f"augment_on must be one of {AugmentOn.values()} ('device' in train mode only), got '{augment_on}'")
        self.augment_on = AugmentOn(augment_on)
        self.records = list(records)
        self.transforms = list(transform) if isinstance(transform, (list, tuple)) else [transform]
        self.frames, self.stride, self.num_clips = frames, stride, num_clips
        self.train, self.decoder, self.seed = train, decoder, seed
        self.bad_video_log = Path(bad_video_log) if bad_video_log else None
        self.max_substitutes, self.clip_duration = max_substitutes, clip_duration
        self.timeout_s = decode_timeout_s or None
        self.clip_gap, self.segments = clip_gap, segments
        self.stage = stage or ("train" if train else "eval")
        self.max_pixels, self.truncated, self.max_bad_fraction = max_pixels, truncated, max_bad_fraction
        self.local_views, self.local_frames = local_views, local_frames or frames
        self.epoch = 0
        self._paths: Optional[Set[str]] = None  # this dataset's paths, built at the first bad video
        self._used: Set[int] = set()  # cut-short videos this process has listed as used

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def sample_clips(self, index: int, rng: np.random.Generator) -> List[List[int]]:
        """Frame indices of the item's clips: `num_clips` clips, or `num_clips` * `segments` (view-major),
        then the `local_views` local clips in train mode."""
        record = self.records[index]
        num_frames = self.probe(index).num_frames  # also screens the file (size limit, cut short)
        local = self.local_views if self.train else 0
        if self.clip_duration > 0:  # time-based: `frames` frames over `clip_duration` seconds
            times = frame_timestamps(record.path)
            if not self.train:
                return uniform_time_clips(times, self.clip_duration, self.frames, self.num_clips)
            if self.segments:
                return [c for _ in range(self.num_clips) for c in segment_time_clips(times, self.clip_duration, self.frames, self.segments, rng)]
            clips = random_time_clips(times, self.clip_duration, self.frames, self.num_clips, rng, gap=self.clip_gap)
            if local:
                clips += random_time_clips(times, self.clip_duration * self.local_frames / self.frames, self.local_frames, local, rng)
            return clips
        if not self.train:
            return uniform_clips(num_frames, self.frames, self.stride, self.num_clips)
        if self.segments:
            return [c for _ in range(self.num_clips) for c in segment_clips(num_frames, self.frames, self.stride, self.segments, rng)]
        clips = random_clips(num_frames, self.frames, self.stride, self.num_clips, rng, gap=self.clip_gap)
        if local:
            clips += random_clips(num_frames, self.local_frames, self.stride, local, rng)
        return clips

    def probe(self, index: int) -> VideoInfo:
        """The video's VideoInfo; DecodeError for frames above `max_pixels`, and for a video cut short
        unless `truncated` is "use" (then it is listed as used, once per process)."""
        path = self.records[index].path
        info = probe_video(path, backend=self.decoder, timeout_s=self.timeout_s, max_pixels=self.max_pixels)
        if info.damage and self.truncated != "use":
            raise DecodeError(path, f"{info.damage} (data.truncated=skip)")
        if info.damage and index not in self._used:
            self._used.add(index)
            self._record(index, "used", f"{info.damage} (data.truncated=use)")
        return info
    def _differences(self, n: int) -> bool:
        """Whether view n's transform may take a temporal difference (then each frame's partner is decoded too)."""
        return getattr(self.transforms[n % len(self.transforms)], "temporal_difference_p", 0.0) > 0

    def plan_clips(self, index: int) -> ClipPlan:
        """The item's generator, clips and the sorted frames to decode (the clips' frames, plus the
        partner frames of the views that may take a temporal difference); probes the file."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        clips = self.sample_clips(index, rng)
        per_view = self.segments if self.train and self.segments else 1
        wanted = {i for clip in clips for i in clip}
        for k, clip in enumerate(clips):  # partner frames of the differenced views, decoded in the same pass
            if self._differences(k // per_view):
                wanted.update(i for pair in difference_pairs(clip) for i in pair)
        return ClipPlan(index, rng, clips, sorted(wanted))

    def build_views(self, plan: ClipPlan, frames: torch.Tensor) -> List[Any]:
        """The item's views from the decoded `frames` (rows in `plan.wanted` order, on any device):
        augmented clips, or with `augment_on="device"` the RawClips that DeviceAugment finishes."""
        position = {frame: row for row, frame in enumerate(plan.wanted)}

        def rows(indices: Sequence[int]) -> torch.Tensor:
            # index_select: indexing with a Python list takes torch's much slower advanced-indexing path
            return frames.index_select(0, torch.tensor([position[i] for i in indices], device=frames.device))

        def view(n: int, clip: List[int], view_rng: np.random.Generator) -> Any:
            transform = self.transforms[n % len(self.transforms)]
            pairs = None
            if self._differences(n):
                firsts, seconds = zip(*difference_pairs(clip))
                pairs = (rows(firsts), rows(seconds))
            if self.augment_on == "device":
                return defer_clip(transform, rows(clip), view_rng, pairs)
            return transform(rows(clip), view_rng, difference_frames=pairs) if pairs else transform(rows(clip), view_rng)

        clips, rng = plan.clips, plan.rng
        if self.train and self.segments:  # a view's S clips share one augmentation: the same seed for each
            views = []
            for n in range(self.num_clips):
                seed = int(rng.integers(2**63))
                segment = [view(n, clip, np.random.default_rng(seed)) for clip in clips[n * self.segments : (n + 1) * self.segments]]
                views.append(stack_segments(segment) if self.augment_on == "device" else torch.stack(segment))
            return views
        return [view(n, clip, rng) for n, clip in enumerate(clips)]

    def load_clips(self, index: int) -> List[Any]:
        plan = self.plan_clips(index)
        frames = decode_frames(self.records[index].path, plan.wanted, backend=self.decoder, timeout_s=self.timeout_s)
        return self.build_views(plan, frames)

    def substitute(self, index: int, attempt: int) -> int:
        """The video that stands in for `index` after its `attempt`-th unreadable candidate (deterministic)."""
        return int(np.random.default_rng([self.seed, index, attempt]).integers(len(self)))

    def too_many_in_a_row(self, index: int) -> TooManyBadVideos:
        return TooManyBadVideos(
            f"{self.max_substitutes + 1} unreadable videos in a row starting at {self.records[index].path}; they are listed in "
            f"{self.bad_video_log}; run tools/check_dataset.py on this dataset"
        )

    def report_bad(self, index: int, error: DecodeError) -> None:
        log.warning("skipping unreadable video: %s", error)
        skipped = self._record(index, "skipped", error.reason or str(error))
        if self.max_bad_fraction is None or self.bad_video_log is None:
            return
        if self._paths is None:
            self._paths = {str(r.path) for r in self.records}
        bad = len(skipped & self._paths)
        if bad > self.max_bad_fraction * len(self):
            raise TooManyBadVideos(
                f"{bad} of {len(self)} videos unreadable at stage '{self.stage}', more than "
                f"data.max_bad_fraction={self.max_bad_fraction}: they are listed in {self.bad_video_log}; fix or remove them "
                "(tools/check_dataset.py checks every file), or raise data.max_bad_fraction"
            )

    def _record(self, index: int, outcome: str, reason: str) -> Set[str]:
        """List the video in the bad-video log; the paths the log lists as skipped at this stage."""
        if self.bad_video_log is None:
            return set()
        return append_bad_video(self.bad_video_log, self.stage, outcome, str(self.records[index].path), reason)

    def __getitem__(self, index: int):
        if not self.train:
            try:
                return torch.stack(self.load_clips(index)), self.records[index].label, index
            except DecodeError as error:
                self.report_bad(index, error)
                return self._placeholder(), self.records[index].label, -1
        candidate = index
        for attempt in range(self.max_substitutes + 1):
            try:
                return self.load_clips(candidate), self.records[candidate].label, candidate
            except DecodeError as error:
                self.report_bad(candidate, error)
                candidate = self.substitute(index, attempt)
        raise self.too_many_in_a_row(index)

    def _placeholder(self) -> torch.Tensor:
        """Zero clips with the shape a good item has (the transform run on a blank clip), so a batch still collates."""
        blank = torch.zeros(self.frames, 64, 64, 3, dtype=torch.uint8)
        shape = self.transforms[0](blank, np.random.default_rng(0)).shape
        return torch.zeros(self.num_clips, *shape)


def append_bad_video(log_path: Path, stage: str, outcome: str, path: str, reason: str) -> Set[str]:
    """Add the line "<stage>\t<outcome>\t<path>\t<reason>" to the bad-video log unless it lists
    (stage, outcome, path) already; returns the paths it lists as skipped at `stage`.

    stage: train (a training set) | eval (feature extraction); outcome: skipped | used. A file
    lock makes read-then-append atomic: every DataLoader worker of every rank writes to it.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        rows = [row for row in (line.rstrip("\n").split("\t", 3) for line in handle) if len(row) == 4]
        if [stage, outcome, path] not in [row[:3] for row in rows]:
            handle.write(f"{stage}\t{outcome}\t{path}\t{reason}\n")
            rows.append([stage, outcome, path, reason])
    return {row[2] for row in rows if row[:2] == [stage, "skipped"]}


def bad_videos(log_path: str | Path, stage: str, outcome: str = "skipped") -> Set[str]:
    """Paths the bad-video log lists with this stage and outcome."""
    path = Path(log_path)
    if not path.is_file():
        return set()
    rows = (line.split("\t", 3) for line in path.read_text().splitlines())
    return {row[2] for row in rows if len(row) == 4 and row[:2] == [stage, outcome]}
