"""Parameters, GFLOPs (fvcore, 1 multiply-add = 1 FLOP, at the canonical clip), feature dim and
batch-1 CPU latency of every registered backbone."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence


def run(pattern: str = "*", markdown: bool = False, latency: bool = True, repeats: int = 5, threads: int = 0) -> str:
    """The table of the backbones whose names match `pattern` (fnmatch); progress on stderr."""
    import torch

    from videosce.errors import UserError
    from videosce.models import list_backbones
    from videosce.models.info import backbone_stats, format_table

    if threads:
        torch.set_num_threads(threads)
    names = list_backbones(pattern)
    if not names:
        raise UserError(f"no backbone matches '{pattern}'; choose from: {', '.join(list_backbones())}")
    rows = []
    for name in names:
        rows.append(backbone_stats(name, latency=latency, repeats=repeats))
        print(f"measured {name}", file=sys.stderr)
    return format_table(rows, markdown=markdown)


def main(argv: Optional[Sequence[str]] = None) -> None:
    from videosce.errors import exit_on_user_error

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", default="*", help="fnmatch pattern over backbone names, e.g. 'x3d_*' (default: all)")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    parser.add_argument("--no-latency", action="store_true", help="skip the CPU latency measurement")
    parser.add_argument("--repeats", type=int, default=5, help="timed forward passes per backbone (median reported)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args(argv)
    with exit_on_user_error():
        print(run(args.names, args.markdown, not args.no_latency, args.repeats, args.threads))
