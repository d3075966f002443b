"""``--reload``: serve from a child process, and start a new one when Python files change.

The parent binds the listening socket once and hands it to each child (``pass_fds``, its
number in ``RELOADER_FD_ENV``), so the port stays the same and connections that arrive
during a restart wait in the socket's queue instead of being refused.  The parent only
watches (``watchfiles``, the ``reload`` extra) and restarts; the child is a normal
``python -m aiohttpbase`` with the same command line, which reads the handler afresh.

The child runs in a process group of its own, so a Ctrl-C in the terminal reaches the
parent only, which stops the child with SIGTERM (a graceful drain) and says what
``python -m http.server`` says.  On Linux the child also gets SIGTERM if the parent dies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterable
from types import FrameType

from .workers import _linux_libc, _set_parent_death_signal

__all__ = ["RELOADER_FD_ENV", "Reloader", "missing_watcher"]

#: Set in a child's environment: the descriptor of the listening socket the parent made.
#: Not an ``AIOHTTPBASE_`` option name, so it is neither one nor warned about as one.
RELOADER_FD_ENV = "_AIOHTTPBASE_RELOADER_FD"

logger = logging.getLogger("aiohttpbase.workers")


def missing_watcher() -> str | None:
    """Why ``--reload`` cannot work here, or ``None`` when it can."""
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        return "--reload needs watchfiles: pip install 'aiohttpbase[reload]'"
    return None


class Reloader:
    """Runs ``command`` as a child serving ``sock``; restarts it when a ``.py`` file under
    ``paths`` changes (or on SIGHUP); stops it on SIGTERM or SIGINT."""

    def __init__(self, command: list[str], sock: socket.socket, paths: Iterable[str], grace: float) -> None:
        self.command = command
        self.sock = sock
        self.paths = sorted(set(paths))
        self.grace = grace  # how long a stopping child may drain before it is killed
        self.stop_signal: signal.Signals | None = None
        self._stop = threading.Event()
        self._restart_requested = False
        self._libc = _linux_libc()  # loaded here: the child's preexec_fn must not dlopen

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; 0 if the last child stopped cleanly, else 1."""
        import watchfiles

        restore = self._install_signal_handlers()
        child: subprocess.Popen[bytes] | None = None
        status = 0
        try:
            logger.info("reload: watching Python files in %s", ", ".join(self.paths))
            child = self._start()
            changes_seen = watchfiles.watch(
                *self.paths,
                watch_filter=watchfiles.PythonFilter(),
                stop_event=self._stop,
                rust_timeout=500,  # yield twice a second: notice a child that exited, or SIGHUP
                yield_on_timeout=True,
                raise_interrupt=False,
            )
            for changes in changes_seen:
                if child is not None and child.poll() is not None:
                    logger.error(
                        "reload: the server (pid %d) exited with status %d; "
                        "it starts again when a file changes",
                        child.pid,
                        child.returncode,
                    )
                    child = None
                if changes or self._restart_requested:
                    self._restart_requested = False
                    names = sorted({os.path.relpath(path) for _change, path in changes})
                    logger.info("reload: %s: restarting", ", ".join(names) or "SIGHUP")
                    if child is not None:
                        self._stop_child(child)
                    child = self._start()
        finally:
            restore()
            if child is not None:
                status = self._stop_child(child)
        return 0 if status == 0 else 1

    def _start(self) -> subprocess.Popen[bytes]:
        fd = self.sock.fileno()
        libc = self._libc

        def in_child() -> None:  # between fork and exec: nothing that imports or locks
            os.setpgid(0, 0)
            _set_parent_death_signal(libc, signal.SIGTERM)

        return subprocess.Popen(
            self.command,
            pass_fds=[fd],
            env={**os.environ, RELOADER_FD_ENV: str(fd)},
            preexec_fn=in_child,
        )

    def _stop_child(self, child: subprocess.Popen[bytes]) -> int:
        """SIGTERM ``child`` and wait for its drain; SIGKILL it after ``grace`` + 5 s."""
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
        try:
            return child.wait(self.grace + 5)
        except subprocess.TimeoutExpired:
            logger.warning("reload: the server (pid %d) did not stop in time: killing it", child.pid)
            child.kill()
            return child.wait()

    def _install_signal_handlers(self) -> Callable[[], None]:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            if self.stop_signal is None:
                self.stop_signal = signal.Signals(signum)
            self._stop.set()

        def on_hangup(signum: int, frame: FrameType | None) -> None:
            self._restart_requested = True

        previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hangup)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore
