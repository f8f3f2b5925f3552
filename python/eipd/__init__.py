"""eipd: a local Amazon EC2 Elastic IP API server, with its binary inside the package.

    import eipd

    with eipd.Server() as server:                  # eipd serve on a free port, memory store
        ec2 = server.client(account=eipd.random_account())
        ec2.allocate_address(Domain="vpc")

The pytest plugin (module ``eipd.pytest_plugin``, loaded through the
``pytest11`` entry point) gives tests the fixtures ``eipd_server``,
``eipd_account``, ``eipd_region``, ``eipd_ec2`` and ``eipd_aws_env``.
"""
from __future__ import annotations

import collections
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterable

__all__ = [
    "DEFAULT_ACCOUNT",
    "Endpoint",
    "Server",
    "ServerError",
    "find_eipd_bin",
    "random_account",
]

try:
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("eipd")
    except PackageNotFoundError:  # imported from a source tree, not installed
        __version__ = "0+unknown"
except ImportError:  # pragma: no cover - Python < 3.8
    __version__ = "0+unknown"

#: The account of any access key id that is not 12 digits (and of unsigned requests).
DEFAULT_ACCOUNT = "000000000000"
#: eipd does not check secrets in its default open auth mode; any value works.
DUMMY_SECRET = "eipd-dummy-secret"

_EXE = "eipd.exe" if sys.platform == "win32" else "eipd"
_LISTENING = re.compile(r"eipd listening on (http://\S+)")
_rng = random.SystemRandom()


class ServerError(RuntimeError):
    """eipd did not start (it exited, or never said it was listening); the message has its stderr."""


def random_account() -> str:
    """A fresh random 12-digit account id. In eipd a 12-digit access key id *is*
    the account, so a client made with it starts in an empty account."""
    return str(_rng.randint(10**11, 10**12 - 1))


def find_eipd_bin() -> str:
    """The eipd executable: ``$EIPD_BIN`` if set, else the one this package
    installed as a script (the ``bin`` directory of the environment, the user
    scheme's, or a ``bin`` beside the package for ``pip install --target``)."""
    env = os.environ.get("EIPD_BIN")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise FileNotFoundError(f"EIPD_BIN={env!r} is not an executable file")
        return env
    dirs = [sysconfig.get_path("scripts")]
    try:
        user_scheme = sysconfig.get_preferred_scheme("user")  # Python 3.10+
    except AttributeError:
        user_scheme = "nt_user" if os.name == "nt" else "posix_user"
    try:
        dirs.append(sysconfig.get_path("scripts", scheme=user_scheme))
    except KeyError:
        pass
    dirs.append(str(Path(__file__).resolve().parent.parent / "bin"))
    for d in dirs:
        candidate = Path(d) / _EXE
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise FileNotFoundError(
        f"the eipd executable is not in {', '.join(dirs)}: install the eipd wheel "
        "(pip install eipd-*.whl) or set EIPD_BIN to an eipd binary"
    )


class Endpoint:
    """A running eipd reached by URL: ``reset()`` and ``client()`` without owning the process
    (for instance a service container in CI)."""

    def __init__(self, endpoint_url: str):
        self.endpoint_url: str | None = endpoint_url.rstrip("/")

    def _url(self) -> str:
        if not self.endpoint_url:
            raise ServerError("eipd is not running (call start() or use `with eipd.Server() as server:`)")
        return self.endpoint_url

    def reset(self) -> None:
        """Wipes every account's state (``POST /moto-api/reset``; refused under ``--auth strict``)."""
        request = urllib.request.Request(self._url() + "/moto-api/reset", data=b"", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except urllib.error.HTTPError as e:
            raise ServerError(f"reset refused: HTTP {e.code}: {e.read().decode(errors='replace')}") from None

    def health(self) -> dict:
        """``GET /health`` as a dict (``status`` is ``ok`` or ``degraded``)."""
        import json

        try:
            with urllib.request.urlopen(self._url() + "/health", timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def client(self, service: str = "ec2", account: str | None = None, region: str = "us-east-1", **kwargs: Any):
        """A boto3 client for ``service`` pointed at this eipd, signed as ``account``
        (a 12-digit id; default :data:`DEFAULT_ACCOUNT`) in ``region``. Other
        keyword arguments go to ``boto3.client`` (``config=``, …)."""
        try:
            import boto3
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("eipd.Server.client() needs boto3: pip install boto3") from e
        return boto3.client(
            service,
            endpoint_url=self._url(),
            region_name=region,
            aws_access_key_id=account or DEFAULT_ACCOUNT,
            aws_secret_access_key=DUMMY_SECRET,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint_url!r})"


class Server(Endpoint):
    """Runs ``eipd serve`` on a free port of 127.0.0.1 until :meth:`stop` (or the end of a ``with`` block).

    ``store`` is ``"memory"`` (the default: nothing kept), ``"embedded"``
    (files in ``data_dir``, or in a temporary directory removed on stop), or a
    ``postgres://`` URL. ``args`` are more ``eipd serve`` flags, e.g.
    ``Server("--flavor", "moto")``. The binary is :func:`find_eipd_bin`'s
    unless ``binary`` is given.
    """

    def __init__(
        self,
        *args: str,
        store: str = "memory",
        data_dir: str | os.PathLike | None = None,
        binary: str | os.PathLike | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        env: dict[str, str] | None = None,
        startup_timeout: float = 30.0,
    ):
        self.endpoint_url = None
        self.args = tuple(str(a) for a in args)
        self.store = store
        self.data_dir = None if data_dir is None else Path(data_dir)
        self.binary = None if binary is None else str(binary)
        self.host, self.port = host, port
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self._owned_dir: str | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=400)
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ life cycle

    def argv(self) -> list[str]:
        binary = self.binary or find_eipd_bin()
        argv = [binary, "serve", "--listen", f"{self.host}:{self.port}"]
        if self.store == "embedded":
            if self.data_dir is None:
                self._owned_dir = tempfile.mkdtemp(prefix="eipd-data-")
                self.data_dir = Path(self._owned_dir)
            argv += ["--store", "embedded", "--data-dir", str(self.data_dir)]
        else:
            argv += ["--store", self.store]
        return argv + list(self.args)

    def start(self) -> "Server":
        """Starts eipd and waits until it listens; raises :class:`ServerError` if it does not."""
        if self.running:
            return self
        argv = self.argv()
        self._stderr.clear()
        ready = threading.Event()
        found: list[str] = []
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **self.env},
        )

        def read_stdout(stream: Iterable[bytes]) -> None:
            for raw in stream:  # keeps draining after the URL, so eipd never blocks on a full pipe
                if not found:
                    m = _LISTENING.search(raw.decode(errors="replace"))
                    if m:
                        found.append(m.group(1).rstrip("/"))
                        ready.set()
            ready.set()

        def read_stderr(stream: Iterable[bytes]) -> None:
            for raw in stream:
                self._stderr.append(raw.decode(errors="replace").rstrip("\n"))

        self._threads = [
            threading.Thread(target=read_stdout, args=(self.process.stdout,), daemon=True, name="eipd-stdout"),
            threading.Thread(target=read_stderr, args=(self.process.stderr,), daemon=True, name="eipd-stderr"),
        ]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + self.startup_timeout
        while not ready.wait(0.05):
            if self.process.poll() is not None or time.monotonic() > deadline:
                break
        if found:
            self.endpoint_url = found[0]
            return self
        # Its standard output can end a moment before its exit status is there.
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        timed_out = self.process.poll() is None
        rc = self.stop()
        reason = f"did not say it was listening within {self.startup_timeout:g} s" if timed_out else f"exited with status {rc}"
        raise ServerError(f"eipd {reason}.\n  command: {' '.join(argv)}\n  stderr:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stops eipd (SIGTERM, then SIGKILL after ``timeout`` s); returns its exit status."""
        proc, self.process = self.process, None
        self.endpoint_url = None
        rc = None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout)
            rc = proc.returncode
            for t in self._threads:
                t.join(2)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        if self._owned_dir is not None:
            shutil.rmtree(self._owned_dir, ignore_errors=True)
            self._owned_dir = None
            self.data_dir = None
        return rc

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        """The last lines eipd wrote on standard error (its log)."""
        return "\n".join(list(self._stderr)[-lines:])

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.endpoint_url or "stopped"
        return f"Server({state}, store={self.store!r}, args={self.args!r})"
