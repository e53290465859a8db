"""Scalars to TensorBoard and to a CSV file, from the main process only."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Optional

from torch.utils.tensorboard import SummaryWriter


class RunLogger:
    """One CSV per stream (e.g. train.csv), columns fixed by its first row; TensorBoard under tb/."""

    def __init__(self, output_dir: str | Path, enabled: bool = True) -> None:
        self.output_dir, self.enabled = Path(output_dir), enabled
        self._writer: Optional[SummaryWriter] = SummaryWriter(str(self.output_dir / "tb")) if enabled else None
        self._columns: Dict[str, List[str]] = {}

    def log(self, stream: str, step: int, values: Dict[str, float]) -> None:
        if not self.enabled:
            return
        for key, value in values.items():
            self._writer.add_scalar(f"{stream}/{key}", value, step)
        path = self.output_dir / f"{stream}.csv"
        row = {"step": step, **values}
        columns = self._columns.setdefault(stream, list(row))
        if set(row) != set(columns):
            raise ValueError(f"{stream}.csv has columns {columns}, got {list(row)}")
        new_file = not path.exists()
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            if new_file:
                writer.writeheader()
            writer.writerow(row)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
