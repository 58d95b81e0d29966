"""The architectures still to measure in a campaign, shared by its device workers
(:mod:`device_profiler.campaign`)."""

from __future__ import annotations

import threading
from collections.abc import Iterable


class WorkQueue:
    """The architectures still to measure, shared by the device workers.

    A worker :meth:`take` s the first pending architecture it has not failed on yet; while
    nothing is eligible but other workers still hold architectures (which may come back), it
    waits. :meth:`give_back` returns an architecture a device could not measure to the front of
    the queue for the others. Everything happens under one condition variable."""

    def __init__(self, items: list[tuple[int, str]], device_keys: Iterable[str]):
        self.pending = list(items)
        self.failed_on: dict[str, set[str]] = {}
        self.in_flight = 0
        self.live = set(device_keys)
        self.stopped = False
        self.cond = threading.Condition()

    def take(self, key: str) -> tuple[int, str] | None:
        with self.cond:
            while True:
                if self.stopped:
                    return None
                for pos, (index, arch) in enumerate(self.pending):
                    if key not in self.failed_on.get(arch, ()):
                        del self.pending[pos]
                        self.in_flight += 1
                        return index, arch
                if self.in_flight == 0:
                    return None
                self.cond.wait()

    def done(self) -> None:
        with self.cond:
            self.in_flight -= 1
            self.cond.notify_all()

    def give_back(self, key: str, item: tuple[int, str]) -> bool:
        """Back to the front of the queue; False when every device still running has failed it
        (the caller records it as failed)."""
        with self.cond:
            self.in_flight -= 1
            tried = self.failed_on.setdefault(item[1], set())
            tried.add(key)
            self.cond.notify_all()
            if self.live <= tried:
                return False
            self.pending.insert(0, item)
            return True

    def drop(self, key: str) -> list[tuple[int, str]]:
        """The device is gone; returns the pending architectures that failed on every device
        left (the caller records them as failed). When no device is left, the ones never tried
        leave the queue too, not tried rather than failed."""
        with self.cond:
            self.live.discard(key)
            orphans = [it for it in self.pending
                       if it[1] in self.failed_on and self.live <= self.failed_on[it[1]]]
            self.pending = [] if not self.live else [it for it in self.pending if it not in orphans]
            self.cond.notify_all()
            return orphans

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()
