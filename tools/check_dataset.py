"""Check a dataset before training: probe every train/test video and decode its first and last
frame in parallel (data.num_workers); report unreadable files, duration/fps stats and resolutions.
Exit code 0 when every video is readable, 1 otherwise; the report goes to <output_dir>/check_dataset.txt.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import parse_cli  # noqa: E402
from videosce.errors import exit_on_user_error  # noqa: E402

if __name__ == "__main__":
    config = parse_cli(__doc__)
    from videosce.data.check import run  # imports torch: only once the config is known good

    with exit_on_user_error():
        sys.exit(run(config))
