"""Check a dataset before training: probe every train/test video and decode its first and last
frame in parallel (data.num_workers); report unreadable, cut-short and missing files, duration/fps
stats and resolutions. Exit code 0 when every listed video is readable, 1 otherwise, 2 for a bad
config or split file; the report goes to <output_dir>/check_dataset.txt.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import parse_cli  # noqa: E402
from videosce.errors import exit_on_user_error  # noqa: E402


def main(argv=None) -> None:
    config = parse_cli(__doc__, argv)
    from videosce.data.check import run  # imports torch: only once the config is known good

    with exit_on_user_error():
        code = run(config)
    sys.exit(code)


if __name__ == "__main__":
    main()
