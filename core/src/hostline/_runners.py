"""Runner processes: ``hostline serve --runners N`` (``[host] runners``).

Each runner process builds the same host from the same config and runs the
durable runner (turns, replies, pushes) without serving HTTP; the HTTP
workers only verify, persist and ack, and ring the runners' doorbells (see
:mod:`hostline.runner`). The parent restarts a runner that died; the work it
held comes back when its leases expire, as after any crash.
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
        while not self._stopping.wait(0.5):
            for i, proc in enumerate(self._procs):
                if proc is None or proc.poll() is None or self._stopping.is_set():
                    continue
                if proc.returncode == 0:
                    # Asked to stop (Ctrl-C reaches the whole process group): not a crash.
                    self._procs[i] = None
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

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with host.lifespan():
            settle_memory()
            log.info("runner process %s ready", os.getpid())
            # An orphan (the serving process was killed) stops by itself.
            while os.getppid() == parent and not stop.is_set():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
