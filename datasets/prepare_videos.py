"""Re-encode a video dataset for fast, exact clip decoding: short side resized (e.g. 256 or 320),
H.264 MP4 with a keyframe every `--gop` frames (closed GOPs), audio dropped (nothing in videosce
reads it). A display rotation (phone video) is baked into the pixels by default, because every
videosce decoder returns frames as stored: the prepared frames are the upright ones a player shows;
`--rotation keep` carries the display matrix over instead.

Why: decoding a clip costs the frames from the preceding keyframe to the clip's end, so a dense
keyframe interval and fewer pixels are the real speed-ups (see DEPENDENCIES.md); a plain
H.264 MP4 with closed GOPs is also the file type every backend decodes frame-exactly.

Resumable: finished outputs are skipped and each file is written under a temporary name, then
renamed. Parallel: --workers processes. Inputs that fail are skipped and listed with the reason
in <dst>/prepare_failures.txt; the exit code is 1 when any failed. Timestamps are kept (variable
frame rates stay variable), except for AVI, whose frames are re-timed at its constant rate.

    python datasets/prepare_videos.py --src UCF-101 --dst data/ucf101/videos --short-side 256 \\
        --splits-in ucfTrainTestlist --splits-out data/ucf101/splits
"""
from __future__ import annotations

import argparse
import os
import sys
from fractions import Fraction
from functools import partial
from multiprocessing import Pool
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import av
import numpy as np
from av.video.frame import PictureType
from tqdm import tqdm

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".flv", ".mpg", ".mpeg", ".m4v", ".3gp", ".wmv")
FAILURES_FILE = "prepare_failures.txt"


def output_size(width: int, height: int, short_side: int) -> Tuple[int, int]:
    """(width, height) with the short side at `short_side` (never upscaled), both even for yuv420p."""
    scale = min(1.0, short_side / min(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def quarter_turns(degrees: float) -> int:
    """Counter-clockwise quarter turns that make a frame with display rotation `degrees` upright."""
    return int(round(degrees / 90)) % 4


def rotate_yuv420p(frame: av.VideoFrame, turns: int) -> av.VideoFrame:
    """`frame` (yuv420p, even sides) turned by `turns` counter-clockwise quarter turns, plane by plane:
    no colour conversion, so the pixels are exactly the stored ones, rearranged."""
    height, width = frame.height, frame.width
    flat = frame.to_ndarray().ravel()
    luma, chroma = height * width, height * width // 4
    planes = (flat[:luma].reshape(height, width), flat[luma:luma + chroma].reshape(height // 2, width // 2),
              flat[luma + chroma:].reshape(height // 2, width // 2))
    rotated = np.concatenate([np.rot90(plane, turns).ravel() for plane in planes])
    out_height, out_width = (width, height) if turns % 2 else (height, width)
    out = av.VideoFrame.from_ndarray(rotated.reshape(out_height * 3 // 2, out_width), format="yuv420p")
    out.pts, out.time_base = frame.pts, frame.time_base
    return out


def encode(src: Path, dst: Path, short_side: int, gop: int, crf: int, preset: str, rotation: str = "apply") -> None:
    """Decode `src`, resize, encode to `dst` (MP4) in one pass; raises on any FFmpeg error."""
    with av.open(str(src)) as inp:
        if not inp.streams.video:
            raise ValueError("no video stream")
        in_stream = inp.streams.video[0]
        rate = in_stream.average_rate or in_stream.guessed_rate or Fraction(25)
        retime = inp.format.name == "avi"  # AVI has no presentation times, only a constant rate
        with av.open(str(dst), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            options = {"crf": str(crf), "preset": preset, "threads": "1",
                       "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:open-gop=0"}
            out_stream = out.add_stream("libx264", rate=rate, options=options)
            out_stream.codec_context.time_base = Fraction(1, rate) if retime else in_stream.time_base
            out_stream.pix_fmt = "yuv420p"
            first, last, count, turns = None, None, 0, 0
            for frame in inp.decode(in_stream):
                if count == 0:
                    width, height = output_size(frame.width, frame.height, short_side)
                    turns = quarter_turns(frame.rotation or 0)
                    if rotation == "keep" and turns:
                        out_stream.set_display_rotation(90 * turns)
                        turns = 0
                    out_stream.width, out_stream.height = (height, width) if turns % 2 else (width, height)
                if retime or frame.pts is None:
                    pts = count if retime else (last + 1 if last is not None else 0)
                else:
                    first = frame.pts if first is None else first
                    pts = max(frame.pts - first, last + 1 if last is not None else 0)
                resized = frame.reformat(width, height, format="yuv420p", interpolation="AREA")
                if turns:
                    resized = rotate_yuv420p(resized, turns)
                resized.pts, last, count = pts, pts, count + 1
                resized.pict_type = PictureType.NONE  # else x264 also puts a keyframe at every source keyframe
                out.mux(out_stream.encode(resized))
            if count == 0:
                raise ValueError("no decodable frames")
            out.mux(out_stream.encode())


def prepare_one(rel: str, src_root: Path, dst_root: Path, short_side: int, gop: int, crf: int, preset: str,
                rotation: str = "apply") -> Tuple[str, str, str]:
    """(rel, "done" | "skipped" | "failed", reason); never raises, so one bad file does not stop a run."""
    dst = (dst_root / rel).with_suffix(".mp4")
    if dst.is_file():
        return rel, "skipped", ""
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial_path = dst.with_name(dst.name + ".partial")
    try:
        encode(src_root / rel, partial_path, short_side, gop, crf, preset, rotation)
        os.replace(partial_path, dst)
    except Exception as exc:  # FFmpeg, I/O or empty input: report the file and go on
        partial_path.unlink(missing_ok=True)
        return rel, "failed", " ".join(f"{type(exc).__name__}: {exc}".split())
    return rel, "done", ""


def find_videos(src_root: Path, listing: Optional[Path] = None) -> List[str]:
    """Relative paths of the videos under `src_root` (or those named in `listing`, one per line)."""
    if listing is not None:
        return [line.split()[0] for line in listing.read_text().splitlines() if line.strip()]
    return sorted(str(p.relative_to(src_root)) for p in src_root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())


def rewrite_split_files(splits_in: Path, splits_out: Path) -> int:
    """Copy split files, naming the .mp4 outputs instead of the original files (UCF101/HMDB51 list .avi)."""
    splits_out.mkdir(parents=True, exist_ok=True)
    count = 0
    for file in sorted(p for p in splits_in.iterdir() if p.is_file()):
        lines = []
        for line in file.read_text().splitlines():
            words = line.split(" ")
            lines.append(" ".join(str(Path(w).with_suffix(".mp4")) if Path(w).suffix.lower() in VIDEO_SUFFIXES else w for w in words))
        (splits_out / file.name).write_text("\n".join(lines) + "\n")
        count += 1
    return count


def prepare_videos(src: Path, dst: Path, short_side: int = 256, gop: int = 16, crf: int = 23, preset: str = "veryfast",
                   workers: int = 1, listing: Optional[Path] = None, progress: bool = True,
                   rotation: str = "apply") -> Tuple[int, int, int]:
    """Convert every video; returns (done, skipped, failed) and writes the failures file when any failed."""
    rels = find_videos(src, listing)
    work = partial(prepare_one, src_root=src, dst_root=dst, short_side=short_side, gop=gop, crf=crf, preset=preset,
                   rotation=rotation)
    counts = {"done": 0, "skipped": 0, "failed": 0}
    failures: List[str] = []
    with tqdm(total=len(rels), desc="videos", unit="video", disable=not progress) as bar:
        for rel, status, reason in _map(work, rels, workers):
            counts[status] += 1
            if status == "failed":
                failures.append(f"{src / rel}\t{reason}")
            bar.update()
            bar.set_postfix(failed=counts["failed"])
    dst.mkdir(parents=True, exist_ok=True)
    failures_file = dst / FAILURES_FILE
    if failures:
        failures_file.write_text("\n".join(sorted(failures)) + "\n")
    else:
        failures_file.unlink(missing_ok=True)
    return counts["done"], counts["skipped"], counts["failed"]


def _map(work, items: Sequence[str], workers: int) -> Iterator[Tuple[str, str, str]]:
    if workers <= 1:
        yield from map(work, items)
        return
    with Pool(workers) as pool:
        yield from pool.imap_unordered(work, items)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, required=True, help="folder of original videos (searched recursively)")
    parser.add_argument("--dst", type=Path, required=True, help="output folder; the relative layout is kept, suffix .mp4")
    parser.add_argument("--short-side", type=int, default=256, help="target short side in pixels (never upscaled)")
    parser.add_argument("--gop", type=int, default=16, help="frames between keyframes")
    parser.add_argument("--crf", type=int, default=23, help="x264 quality (lower = better, larger)")
    parser.add_argument("--preset", default="veryfast", help="x264 speed preset")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel processes")
    parser.add_argument("--rotation", choices=("apply", "keep"), default="apply",
                        help="display rotation: bake it into the pixels (apply) or carry the display matrix over (keep)")
    parser.add_argument("--list", type=Path, dest="listing", help="only these files (paths relative to --src, one per line)")
    parser.add_argument("--splits-in", type=Path, help="official split folder to copy with .mp4 names (UCF101, HMDB51)")
    parser.add_argument("--splits-out", type=Path, help="where the rewritten split files go")
    args = parser.parse_args(argv)
    if (args.splits_in is None) != (args.splits_out is None):
        parser.error("--splits-in and --splits-out go together")
    if not args.src.is_dir():
        parser.error(f"--src {args.src} is not a folder")
    done, skipped, failed = prepare_videos(args.src, args.dst, args.short_side, args.gop, args.crf, args.preset,
                                           args.workers, args.listing, rotation=args.rotation)
    print(f"converted {done}, already done {skipped}, failed {failed}"
          + (f" (listed in {args.dst / FAILURES_FILE})" if failed else ""))
    if args.splits_in is not None:
        print(f"rewrote {rewrite_split_files(args.splits_in, args.splits_out)} split files into {args.splits_out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
