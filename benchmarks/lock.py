"""One writer per output folder: ``<out>/.ivifbench.lock``, held (``flock``) for the whole run.

The kernel releases the lock when its holder dies, even on ``kill -9``, so a stale lock never blocks the next run. The
file says who holds it (pid, host, start time, command) for the message a second run prints.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import IO, Any

from ivifbench.errors import IvifError

LOCK_NAME = ".ivifbench.lock"


class OutputBusyError(IvifError):
    """Another run writes into this output folder."""


def _holder(path: Path) -> str:
    try:
        info: dict[str, Any] = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another ivifbench run"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info.get("started", 0))))
    return f"another ivifbench run (pid {info.get('pid', '?')} on {info.get('host', '?')}, since {since})"


class OutputLock:
    """``with OutputLock(out, wait=False): ...`` — raises :class:`OutputBusyError` naming the holder, or waits."""

    def __init__(self, out: Path, *, wait: bool = False, say: Any = None) -> None:
        self.path = Path(out) / LOCK_NAME
        self.wait = wait
        self.say = say
        self._f: IO[str] | None = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+", encoding="utf-8")
        told = False
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                who = _holder(self.path)
                if not self.wait:
                    f.close()
                    raise OutputBusyError(
                        f"{self.path.parent} is in use by {who}; wait for it to end, or pass --wait"
                    ) from None
                if not told and self.say:
                    self.say(f"waiting for {who} to finish with {self.path.parent} …")
                    told = True
                time.sleep(0.5)  # a poll, not a blocking flock: Ctrl-C stays responsive
        f.seek(0)
        f.truncate()
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "argv": sys.argv}
        f.write(json.dumps(info))
        f.flush()
        self._f = f

    def release(self) -> None:
        if self._f is not None:
            self._f.close()  # closing drops the flock
            self._f = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
