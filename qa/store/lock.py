"""The index's writer lock: one writer at a time, who holds it, and waiting for it out loud.

`hold` takes `index/.lock` (filelock, released by the kernel when its holder dies) and writes
the holder's pid, host, command and start time to `index/.lock.holder` beside it. A writer
that must wait says so at once, naming the holder, and again when the holder changes;
Ctrl-C while it waits is a `LockWaitInterruptedError` (nothing was changed). Readers never
take the lock: `writer_at_work` tells them whether a writer holds it (an index being built).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from qa.atomic_files import (
    stale_temp_files,
    write_atomic,
)
from qa.errors import IndexLockedError, LockWaitInterruptedError
from qa.ingest.doc_ids import shown

LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.holder"
LOCK_TIMEOUT_S = 600.0
_WAIT_STEP_S = 1.0  # how often a waiting writer looks again at who holds the lock

Notify = Callable[[str], None]


@dataclass(frozen=True)
class LockHolder:
    """The writer holding an index's lock, as it recorded itself."""

    pid: int
    since: float
    host: str = ""
    command: str = ""

    def describe(self, now: float | None = None) -> str:
        """'pid 4242 (qa index news/), since 10:31:02, 3 min ago'."""
        age = max(0.0, (now or time.time()) - self.since)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        elsewhere = self.host and self.host != socket.gethostname()
        who = f"pid {self.pid}" + (f" on {self.host}" if elsewhere else "")
        command = f" ({shown(self.command)})" if self.command else ""
        return f"{who}{command}, since {when}, {_duration(age)} ago"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def read_holder(root: str | Path) -> LockHolder | None:
    """Who recorded themselves as holding the lock of the index at `root` (None when unknown)."""
    try:
        data = json.loads((Path(root) / HOLDER_FILE).read_text(encoding="utf-8"))
        return LockHolder(pid=int(data["pid"]), since=float(data["since"]), host=str(data.get("host", "")),
                          command=str(data.get("command", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _who(holder: LockHolder | None) -> str:
    return holder.describe() if holder else "holder unknown"


def _record_holder(root: Path) -> None:
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:160] if sys.argv and sys.argv[0] else ""
    holder = LockHolder(pid=os.getpid(), since=time.time(), host=socket.gethostname(), command=command)
    for stale in stale_temp_files(root, HOLDER_FILE):  # a killed holder's half-written record
        stale.unlink(missing_ok=True)
    write_atomic(root / HOLDER_FILE, json.dumps(asdict(holder)))


@contextmanager
def hold(root: str | Path, timeout: float = LOCK_TIMEOUT_S, on_wait: Notify | None = None) -> Iterator[None]:
    """Hold the writer lock of the index at `root`, waiting up to `timeout` seconds for it.

    While it waits, `on_wait` gets one line naming the holder (and another if the holder
    changes). Raises IndexLockedError after `timeout`, LockWaitInterruptedError on Ctrl-C.
    """
    from filelock import FileLock, Timeout

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(root / LOCK_FILE))
    deadline = time.monotonic() + timeout
    announced: object = False
    holder: LockHolder | None = None
    try:
        step = 0.0  # the first try does not wait, so that a wait is announced at once
        while True:
            try:
                lock.acquire(timeout=step)
                break
            except Timeout:
                holder = read_holder(root)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise IndexLockedError(f"another process ({_who(holder)}) is writing the index at "
                                           f"{root}; gave up after {timeout:.0f} s") from None
                if on_wait is not None and holder != announced:
                    on_wait(f"waiting for the index lock at {root}: another writer holds it "
                            f"({_who(holder)}); waiting up to {_duration(left)}, Ctrl-C to stop")
                    announced = holder
                step = min(_WAIT_STEP_S, left)
    except KeyboardInterrupt:
        if lock.is_locked:  # Ctrl-C just after the lock was taken
            lock.release()
        raise LockWaitInterruptedError(f"stopped waiting for the index lock at {root} ({_who(holder)}); "
                                       "nothing was changed") from None
    try:
        _record_holder(root)
        yield
    finally:
        (root / HOLDER_FILE).unlink(missing_ok=True)
        lock.release()


def writer_at_work(root: str | Path) -> LockHolder | bool:
    """The holder when a writer holds the lock of the index at `root` (True when it is held but
    the holder is unknown), else False. Never creates the folder."""
    from filelock import FileLock, Timeout

    path = Path(root) / LOCK_FILE
    if not path.exists():
        return False
    probe = FileLock(str(path))
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return read_holder(root) or True
    probe.release()
    return False


__all__ = ["HOLDER_FILE", "LOCK_FILE", "LOCK_TIMEOUT_S", "LockHolder", "Notify", "hold", "read_holder",
           "writer_at_work"]
