"""Parameters, GFLOPs (fvcore, 1 multiply-add = 1 FLOP, at the canonical clip), feature dim and
batch-1 CPU latency of every registered backbone."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.models import list_backbones  # noqa: E402
from videosce.models.info import backbone_stats, format_table  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", default="*", help="fnmatch pattern over backbone names, e.g. 'x3d_*' (default: all)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--no-latency", action="store_true", help="skip the CPU latency measurement")
    parser.add_argument("--repeats", type=int, default=5, help="timed forward passes per backbone (median reported)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = list_backbones(args.names)
    if not names:
        parser.error(f"no backbone matches '{args.names}'; choose from: {', '.join(list_backbones())}")
    rows = []
    for name in names:
        rows.append(backbone_stats(name, latency=not args.no_latency, repeats=args.repeats))
        print(f"measured {name}", file=sys.stderr)
    print(format_table(rows, markdown=args.markdown))


if __name__ == "__main__":
    main()
