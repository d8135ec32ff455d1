"""Runner processes: ``hostline serve --runners N`` (``[host] runners``).

Each runner process builds the same host from the same config and runs the
durable runner (turns, replies, pushes) without serving HTTP; the HTTP
workers only verify, persist and ack, and ring the runners' doorbells (see
:mod:`hostline.runner`). The parent restarts a runner that died; the work it
held comes back when its leases expire, as after any crash.

With ``[host] runner_recycle_mib``, a runner that is idle and has grown that
much past its size at start-up hands over to a fresh process: CPython keeps
the memory a burst of conversations used (freed objects leave their arenas
pinned by a few survivors), and only a new process gives it back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time

log = logging.getLogger("hostline.runners")

#: Exit status of a runner that is handing over to a fresh process
#: (``EX_TEMPFAIL``): the parent starts the next one at once.
RECYCLE_EXIT = 75
#: Seconds a runner must have had nothing in flight before it recycles.
RECYCLE_IDLE = 2.0


class RunnerProcesses:
    """Starts, watches and stops the runner processes of one ``hostline serve``."""

    def __init__(self, config: str | None, count: int, log_level: str, bind: str, *,
                 grace: float) -> None:
        self._cmd = [sys.executable, "-m", "hostline._runners", "--log-level", log_level,
                     "--bind", bind]
        if config:
            self._cmd += ["--config", os.path.abspath(config)]
        self._procs: list[subprocess.Popen[bytes] | None] = [None] * count
        self._started = [0.0] * count
        self._delay = [1.0] * count
        self._grace = grace
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        for i in range(len(self._procs)):
            self._spawn(i)
        self._watcher = threading.Thread(target=self._watch, name="hostline-runners",
                                         daemon=True)
        self._watcher.start()

    def _spawn(self, i: int) -> None:
        self._procs[i] = subprocess.Popen(self._cmd)
        self._started[i] = time.monotonic()

    def _watch(self) -> None:
        while not self._stopping.wait(0.2):
            for i, proc in enumerate(self._procs):
                if proc is None or proc.poll() is None or self._stopping.is_set():
                    continue
                if proc.returncode == 0:
                    # Asked to stop (Ctrl-C reaches the whole process group): not a crash.
                    self._procs[i] = None
                    continue
                if proc.returncode == RECYCLE_EXIT:
                    log.info("runner process %s handed over; starting a fresh one", proc.pid)
                    self._spawn(i)
                    continue
                now = time.monotonic()
                # One that keeps failing at start-up is retried less and less often.
                if now - self._started[i] > 30:
                    self._delay[i] = 1.0
                if now - self._started[i] < self._delay[i]:
                    continue
                log.warning("runner process %s exited with %s; starting another",
                            proc.pid, proc.returncode)
                self._delay[i] = min(60.0, self._delay[i] * 2)
                self._spawn(i)

    def stop(self) -> None:
        """SIGTERM every runner (each drains its in-flight work), then wait."""
        self._stopping.set()
        live = [p for p in self._procs if p is not None and p.poll() is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        deadline = time.monotonic() + self._grace + 5.0
        for proc in live:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv: list[str] | None = None) -> int:
    """One runner process (started by :class:`RunnerProcesses`)."""
    from ._bootstrap import build_host, resolve_config, settle_memory, setup_logging

    parser = argparse.ArgumentParser(prog="hostline-runner")
    parser.add_argument("--config", default=None)
    parser.add_argument("--bind", default=None)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    config = resolve_config(args.config, bind=args.bind or None)
    host = build_host(config, role="runner")
    if config.host.runner_nice:
        # Acks first: a burst of deliveries must not slow the webhook answers
        # (the work is durable and waits in the queue).
        with contextlib.suppress(OSError, AttributeError):
            os.nice(config.host.runner_nice)
    parent = os.getppid()
    recycle = config.host.runner_recycle_mib * 2**20

    async def run() -> bool:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with host.lifespan():
            settle_memory()
            watch = MemoryWatch(recycle) if recycle else None
            if watch is not None and watch.start is None:
                log.warning("runner_recycle_mib needs /proc (Linux): runner processes "
                            "will not be recycled here")
            log.info("runner process %s ready", os.getpid())
            # An orphan (the serving process was killed) stops by itself.
            while os.getppid() == parent and not stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
                if watch is not None and watch.should_recycle(host.runner.inflight):
                    log.info("runner process %s: idle and %.0f MiB past its start-up size; "
                             "handing over to a fresh process", os.getpid(),
                             watch.growth / 2**20)
                    return True
        return False

    return RECYCLE_EXIT if asyncio.run(run()) else 0


class MemoryWatch:
    """Decides when an idle runner has kept enough memory to be worth replacing."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.start = resident_bytes()
        self.growth = 0
        self._idle_since: float | None = None

    def should_recycle(self, inflight: int) -> bool:
        """True once nothing was in flight for :data:`RECYCLE_IDLE` seconds
        and the resident set is more than ``limit`` bytes past the start."""
        now = time.monotonic()
        if inflight or self.start is None:
            self._idle_since = None
            return False
        if self._idle_since is None:
            self._idle_since = now
        if now - self._idle_since < RECYCLE_IDLE:
            return False
        self.growth = (resident_bytes() or 0) - self.start
        return self.growth > self.limit


def resident_bytes() -> int | None:
    """This process's resident set (``/proc/self/statm``), or None off Linux."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


if __name__ == "__main__":
    sys.exit(main())
