"""Write-once storage for signed checkpoints: an append-only directory by default.

Each checkpoint becomes one file created with O_EXCL and mode 0444 and is never
overwritten, so a later rewrite of the database cannot rewrite history already
published here. For S3 Object Lock (compliance mode) see docs/audit.md.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path

from phidesk.audit import conf

_NAME = re.compile(r"^checkpoint-(\d{20})\.note$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")


class WormConflict(RuntimeError):
    """The store already holds different bytes under this name: history was forked."""


def checkpoint_name(tree_size: int) -> str:
    return f"checkpoint-{tree_size:020d}.note"


class WormDirectory:
    def __init__(self, path: Path) -> None:
        self.path = path

    def put(self, name: str, data: bytes) -> bool:
        """Store `data` once. True if written now, False if the same bytes were already there."""
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / name
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileExistsError:
            if target.read_bytes() != data:
                raise WormConflict(f"{target} exists with different content") from None
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return True

    def put_checkpoint(self, tree_size: int, note: str, signed_at: dt.datetime) -> bool:
        """One directory per month of signing, matching the monthly archive unit."""
        sub = WormDirectory(self.path / signed_at.strftime("%Y-%m"))
        return sub.put(checkpoint_name(tree_size), note.encode())

    def checkpoints(self) -> Iterator[tuple[int, str, str]]:
        """(tree size, note, file path) for every stored checkpoint."""
        if not self.path.is_dir():
            return
        for month in sorted(os.listdir(self.path)):
            folder = self.path / month
            if not _MONTH.match(month) or not folder.is_dir():
                continue
            for entry in sorted(os.listdir(folder)):
                match = _NAME.match(entry)
                if match:
                    yield int(match.group(1)), (folder / entry).read_text(), str(folder / entry)


def store() -> WormDirectory:
    return WormDirectory(conf.worm_dir())
