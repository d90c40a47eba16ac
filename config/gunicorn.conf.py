"""gunicorn settings for serving Breachline: ``gunicorn -c config/gunicorn.conf.py config.wsgi``.

Everything here can be overridden on the command line (``--bind``, ``--workers``, …) or through
``GUNICORN_CMD_ARGS``. ``make bench`` serves the app with this file too.

Large uploads (evidence files, up to ``EVIDENCE_MAX_BYTES``) stream through Django's multipart
parser in buffers of a few hundred KiB. glibc's malloc serves buffers that size with ``mmap``
and returns them to the system when freed (its threshold adapts, but only up to 32 MiB after a
free), so every chunk costs fresh page faults: ~1 ms per MB, a quarter of an upload's time on
the benchmark machine. Each worker therefore raises the mmap threshold above any buffer the
app uses and keeps up to 256 MiB of freed memory for reuse instead of trimming it at once.
The memory a worker holds does not grow with upload size (``benchmarks/results/evidence.json``
records the peak RSS growth per upload).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# gthread workers keep connections alive and let a slow upload occupy one thread, not a worker.
worker_class = "gthread"
# Sized to the machine, as gunicorn's documentation advises: 2 x cores + 1, so that while one
# worker waits on PostgreSQL another uses the core (benchmarks/results/load.json: 5 on 2 cores).
workers = int(os.environ.get("GUNICORN_WORKERS", str(2 * (os.cpu_count() or 1) + 1)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 30
# Evidence uploads of a gigabyte take seconds on a fast link and minutes on a slow one.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "600"))

# glibc mallopt(3) parameters.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024


def tune_malloc() -> bool:
    """Apply the thresholds above in this process; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )


def post_fork(server: object, worker: object) -> None:
    tune_malloc()
