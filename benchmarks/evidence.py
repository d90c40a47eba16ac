"""Benchmark: uploading a 1 GiB evidence file over HTTP, against ``sha256sum`` of the same file.

``make bench`` runs this script after the incidents bench. It

1. drops and recreates its own bench database (``BENCH_EVIDENCE_DATABASE_URL``, default
   ``breachline_bench_evidence``; PostgreSQL only, the name must contain "bench"), migrates it and
   creates a lead, an API key for the lead and an incident through the app's services;
2. writes a file of ``BENCH_EVIDENCE_MB`` MiB of random bytes to a temporary directory, reads it
   once so it is in the page cache, and times ``sha256sum`` on it (twice, the faster counts);
3. serves the app with gunicorn as the incidents bench does, with ``EVIDENCE_ROOT`` and
   ``FILE_UPLOAD_TEMP_DIR`` in that temporary directory (one file system: storing an upload is a
   rename), and warms it up with small uploads;
4. uploads the file ``BENCH_EVIDENCE_RUNS`` times (``POST /api/v1/incidents/<ref>/evidence/``,
   multipart streamed from disk with an exact Content-Length), checks the 201 and the SHA-256 the
   server computed, and reads each gunicorn worker's RSS before and its peak RSS after;
5. writes ``benchmarks/results/evidence.json`` and prints a table. Exit status 1 if a target is
   missed: upload throughput ≥ 0.5x sha256sum's, server peak RSS growth < 100 MB.

The generated file, the stored evidence and the temporary directories are removed in every case.
See benchmarks/README.md.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# benchmarks/ is sys.path[0]; configure_environment() puts the project root before it (see harness).
from harness import (
    ROOT,
    child_pids,
    configure_environment,
    database_info,
    free_port,
    git_state,
    loadavg,
    machine_info,
    proc_status_kib,
    recreate_database,
    reset_peak_rss,
    server_info,
    start_gunicorn,
    stop,
    wait_healthy,
)

# Its own database, so running it leaves the incidents bench's seeded database alone. DATABASE_URL
# is deliberately not read: it is the incidents bench's knob (or a development database).
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/breachline_bench_evidence"
DATABASE_URL = os.environ.get("BENCH_EVIDENCE_DATABASE_URL") or DEFAULT_DATABASE_URL
FILE_MIB = int(os.environ.get("BENCH_EVIDENCE_MB", "1024"))  # the file's size in MiB
RUNS = int(os.environ.get("BENCH_EVIDENCE_RUNS", "3"))  # timed uploads; the median counts
WARMUP_UPLOADS = 4  # small uploads first: two workers, and the kernel picks which one accepts
WARMUP_BYTES = 1024 * 1024
# The default size writes evidence.json (its history is the benchmark's); other sizes their own
# file, e.g. evidence-64mb.json for BENCH_EVIDENCE_MB=64.
RESULTS = ROOT / "benchmarks" / "results" / ("evidence.json" if FILE_MIB == 1024 else f"evidence-{FILE_MIB}mb.json")
CLIENT_CHUNK = 1024 * 1024  # the client reads and sends the file 1 MiB at a time
MB = 1_000_000  # rates in MB/s and memory in MB are decimal; the file's size is in MiB

# Issue targets: (metric, comparison, limit).
TARGETS = [
    ("upload_to_sha256sum_ratio", ">=", 0.5),
    ("peak_rss_growth_mb", "<", 100.0),
]


# --- Setup ------------------------------------------------------------------------------------


@dataclass
class Fixture:
    api_key: str
    reference: str


def fixture() -> Fixture:
    """A lead, an API key acting as the lead (incidents:read, incidents:write) and an incident
    the lead leads, through the app's services (users have none: as ``seed_demo`` does)."""
    from accounts.models import Role, User
    from accounts.services import api_key_create
    from incidents.services import incident_open

    lead = User(username="bench-lead", first_name="Bench", last_name="Lead", email="bench-lead@example.com")
    lead.role = Role.LEAD
    lead.set_unusable_password()
    lead.save()
    _, raw_key = api_key_create(name="bench-evidence", scopes=["incidents:read", "incidents:write"], user=lead)
    incident = incident_open(
        opened_by=lead,
        lead=lead,
        title="Disk image from a compromised build server",
        severity="high",
        category="malware",
        summary="Evidence upload benchmark.",
    )
    return Fixture(raw_key, incident.reference)


def write_random_file(path: Path, mib: int) -> None:
    """``mib`` MiB of os.urandom: nothing to gain from compressing or deduplicating it."""
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(os.urandom(CLIENT_CHUNK))


def read_through(path: Path) -> None:
    """Read the file once, so that sha256sum and the upload both start from the page cache."""
    with path.open("rb") as file:
        while file.read(CLIENT_CHUNK):
            pass


@dataclass
class Sha256sum:
    digest: str
    seconds: list[float]  # each run's wall-clock time


def time_sha256sum(path: Path, runs: int = 2) -> Sha256sum:
    digest, seconds = "", []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
        seconds.append(time.perf_counter() - start)
        digest = done.stdout.split()[0]
    return Sha256sum(digest, seconds)


def sha256sum_version() -> str:
    """Which sha256sum: coreutils built without OpenSSL (Debian 12's 9.1) hashes in portable C,
    about a quarter of the speed of OpenSSL's SHA-256 on a CPU with SHA extensions."""
    done = subprocess.run(["sha256sum", "--version"], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[0]


def time_server_hashes(path: Path) -> float:
    """Seconds to compute the digests the upload handler computes (SHA-256, MD5, SHA-1 with
    hashlib, 256 KiB at a time, one thread), here over the cached file: the most an upload could
    reach if receiving and storing cost nothing."""
    import hashlib

    from incidents.evidence.uploads import EvidenceUploadHandler

    hashes = [hashlib.sha256(), hashlib.md5(usedforsecurity=False), hashlib.sha1(usedforsecurity=False)]
    start = time.perf_counter()
    with path.open("rb") as file:
        while chunk := file.read(EvidenceUploadHandler.chunk_size):
            for digest in hashes:
                digest.update(chunk)
    return time.perf_counter() - start


# --- Upload -----------------------------------------------------------------------------------


@dataclass
class Upload:
    seconds: float  # from the first byte sent to the last byte of the response read
    status: int
    body: bytes
    sent: int  # bytes of request body sent


def multipart_parts(path: Path, boundary: str) -> tuple[bytes, bytes]:
    """The multipart body before the file's bytes (a form field, then the file part's headers)
    and after them (the closing boundary)."""
    preamble = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="source_system"\r\n\r\n'
        "bench-evidence\r\n"
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    epilogue = f"\r\n--{boundary}--\r\n".encode()
    return preamble, epilogue


def upload(port: int, fix: Fixture, path: Path) -> Upload:
    """POST the file as multipart/form-data, streamed: the body is a generator reading the file
    1 MiB at a time, with an exact Content-Length (no chunked encoding), so neither side needs to
    hold the file in memory. One fresh connection; connecting is not timed."""
    boundary = f"breachline-bench-{secrets.token_hex(16)}"
    preamble, epilogue = multipart_parts(path, boundary)
    length = len(preamble) + path.stat().st_size + len(epilogue)
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield preamble
        sent += len(preamble)
        with path.open("rb") as file:
            while chunk := file.read(CLIENT_CHUNK):
                yield chunk
                sent += len(chunk)
        yield epilogue
        sent += len(epilogue)

    headers = {
        "Authorization": f"Api-Key {fix.api_key}",
        "Accept": "application/json",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(length),
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.connect()
        start = time.perf_counter()
        conn.request("POST", f"/api/v1/incidents/{fix.reference}/evidence/", body=body(), headers=headers)
        response = conn.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    if sent != length:
        sys.exit(f"bench: sent {sent} bytes, Content-Length said {length}")
    return Upload(elapsed, response.status, payload, sent)


def created_evidence(result: Upload, expect_sha256: str, expect_size: int) -> dict[str, Any]:
    """The one evidence item a 201 lists, checked against what sha256sum and the file say."""
    if result.status != 201:
        sys.exit(f"bench: upload answered {result.status}: {result.body[:1000]!r}")
    items = json.loads(result.body)
    if not (isinstance(items, list) and len(items) == 1):
        sys.exit(f"bench: expected a list of one evidence item, got {result.body[:1000]!r}")
    item = items[0]
    if item.get("sha256") != expect_sha256 or item.get("size") != expect_size:
        sys.exit(
            f"bench: the server stored sha256 {item.get('sha256')} and size {item.get('size')}, "
            f"expected {expect_sha256} and {expect_size}"
        )
    return item


def remove_stored(evidence_root: Path) -> int:
    """Delete what the uploads stored (the bench needs the rows, not the bytes), so that runs do
    not pile gigabytes up in the temporary directory. Returns how many files it removed."""
    removed = 0
    for path in evidence_root.rglob("*"):
        if path.is_file():
            path.unlink()
            removed += 1
    return removed


# --- Server memory ----------------------------------------------------------------------------


@dataclass
class Memory:
    rss_before_kib: dict[int, int]  # worker pid -> VmRSS just before the upload
    hwm_after_kib: dict[int, int]  # worker pid -> VmHWM just after it
    hwm_reset: bool  # whether VmHWM was reset to VmRSS before the upload (see reset_peak_rss)

    @property
    def growth_mb(self) -> float:
        """The largest growth of any worker: its peak RSS during the upload over its RSS before."""
        return max((self.hwm_after_kib[pid] - self.rss_before_kib[pid]) * 1024 / MB for pid in self.rss_before_kib)


def workers(master: subprocess.Popen[bytes]) -> list[int]:
    pids = child_pids(master.pid)
    if not pids:
        sys.exit("bench: gunicorn has no workers")
    return pids


def measured_upload(port: int, fix: Fixture, path: Path, master: subprocess.Popen[bytes]) -> tuple[Upload, Memory]:
    pids = workers(master)
    rss_before = {pid: proc_status_kib(pid)["VmRSS"] for pid in pids}
    # Reset after reading RSS: the peak then starts from (about) the RSS read.
    resets = [reset_peak_rss(pid) for pid in pids]
    result = upload(port, fix, path)
    if workers(master) != pids:
        sys.exit(f"bench: a gunicorn worker was replaced during the upload (was {pids}, now {workers(master)})")
    hwm_after = {pid: proc_status_kib(pid)["VmHWM"] for pid in pids}
    return result, Memory(rss_before, hwm_after, all(resets))


# --- Report -----------------------------------------------------------------------------------


def evidence_settings(tmp: Path) -> dict[str, Any]:
    from django.conf import settings

    from incidents.evidence.uploads import EvidenceUploadHandler

    root, upload_tmp = Path(settings.EVIDENCE_ROOT), Path(settings.FILE_UPLOAD_TEMP_DIR)
    return {
        "EVIDENCE_STORAGE": settings.EVIDENCE_STORAGE,
        "EVIDENCE_MAX_BYTES": settings.EVIDENCE_MAX_BYTES,
        "EVIDENCE_ROOT": str(root.relative_to(tmp.resolve())),
        "FILE_UPLOAD_TEMP_DIR": str(upload_tmp.relative_to(tmp.resolve())),
        "same_file_system": root.stat().st_dev == upload_tmp.stat().st_dev,
        "upload_handler": f"{EvidenceUploadHandler.__module__}.{EvidenceUploadHandler.__qualname__}",
        "upload_handler_chunk_bytes": EvidenceUploadHandler.chunk_size,
    }


def target_results(values: dict[str, float]) -> list[dict[str, Any]]:
    results = []
    for metric, comparison, limit in TARGETS:
        value = values[metric]
        met = value >= limit if comparison == ">=" else value < limit
        results.append({"metric": metric, "comparison": comparison, "limit": limit, "actual": value, "pass": met})
    return results


def print_table(result: dict[str, Any]) -> None:
    file, base, up = result["file"], result["sha256sum"], result["upload"]
    print(f"\nfile: {file['mib']} MiB ({file['bytes']} bytes) of random bytes, in the page cache")
    print(f"{'':<28}{'MB/s':>9}{'seconds':>10}")
    print(f"{'sha256sum (faster of 2)':<28}{base['mb_per_s']:>9.1f}{base['seconds']:>10.2f}")
    hashes = result["server_hashes_in_process"]
    print(f"{'3 hashes in-process':<28}{hashes['mb_per_s']:>9.1f}{hashes['seconds']:>10.2f}   the upload's ceiling")
    for n, run in enumerate(up["runs"], 1):
        print(
            f"{f'upload run {n}':<28}{run['mb_per_s']:>9.1f}{run['seconds']:>10.2f}"
            f"   peak RSS growth {run['peak_rss_growth_mb']:.1f} MB"
        )
    print(f"{'upload, median':<28}{up['median_mb_per_s']:>9.1f}")
    print(f"upload / sha256sum: {result['upload_to_sha256sum_ratio']:.3f}")
    print(f"server peak RSS growth (max over runs and workers): {result['peak_rss_growth_mb']:.1f} MB")
    print("\ntargets:")
    for t in result["targets"]:
        verdict = "PASS" if t["pass"] else "FAIL"
        print(f"  {verdict}  {t['metric']}: {t['actual']} ({t['comparison']} {t['limit']})")
    machine = result["machine"]
    print(
        f"\n{machine['nproc']} CPUs, 1-min load average {machine['loadavg_1m']['start']} at start, "
        f"{machine['loadavg_1m']['end']} at end"
    )


# --- Main -------------------------------------------------------------------------------------


def main() -> int:
    # A SIGTERM unwinds like Ctrl-C, through the finally below: no gigabyte left in $TMPDIR.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    began = time.perf_counter()
    load_start = loadavg()
    tmp = Path(tempfile.mkdtemp(prefix="breachline-bench-evidence-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        evidence_root, upload_tmp = tmp / "evidence", tmp / "uploads"
        evidence_root.mkdir()
        upload_tmp.mkdir()
        size = FILE_MIB * 1024 * 1024
        os.environ["EVIDENCE_STORAGE"] = "filesystem"
        os.environ["EVIDENCE_ROOT"] = str(evidence_root)
        os.environ["FILE_UPLOAD_TEMP_DIR"] = str(upload_tmp)
        if size > int(os.environ.get("EVIDENCE_MAX_BYTES") or 2 * 1024**3):
            os.environ["EVIDENCE_MAX_BYTES"] = str(size)
        env = configure_environment(database_url=DATABASE_URL)
        name = recreate_database(DATABASE_URL, variable="BENCH_EVIDENCE_DATABASE_URL")
        print(f"bench: recreated database {name}; migrating")

        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0, interactive=False)
        fix = fixture()
        db = database_info()
        settings_used = evidence_settings(tmp)
        connections.close_all()

        data = tmp / "evidence-bench.bin"
        print(f"bench: writing {FILE_MIB} MiB of random bytes")
        write_random_file(data, FILE_MIB)
        small = tmp / "warm-up.bin"
        small.write_bytes(os.urandom(WARMUP_BYTES))
        read_through(data)
        baseline = time_sha256sum(data)
        sha_seconds = min(baseline.seconds)
        sha_rate = size / MB / sha_seconds
        print(f"bench: sha256sum {sha_rate:.1f} MB/s ({', '.join(f'{s:.2f}' for s in baseline.seconds)} s)")
        hash_seconds = time_server_hashes(data)

        port = free_port()
        log = tmp / "gunicorn.log"
        server = start_gunicorn(env, port, log)
        wait_healthy(port, server, log)
        small_sha = subprocess.run(["sha256sum", str(small)], capture_output=True, text=True, check=True)
        for _ in range(WARMUP_UPLOADS):
            created_evidence(upload(port, fix, small), small_sha.stdout.split()[0], WARMUP_BYTES)
        remove_stored(evidence_root)
        print(f"bench: gunicorn on 127.0.0.1:{port}; {RUNS} uploads of {FILE_MIB} MiB")

        runs, rates = [], []
        for n in range(RUNS):
            read_through(data)  # back in the page cache, should anything have evicted it
            result, memory = measured_upload(port, fix, data, server)
            item = created_evidence(result, baseline.digest, size)
            removed = remove_stored(evidence_root)
            left_in_tmp = sum(1 for _ in upload_tmp.iterdir())
            rate = size / MB / result.seconds
            rates.append(rate)
            runs.append(
                {
                    "seconds": round(result.seconds, 3),
                    "mb_per_s": round(rate, 1),
                    "peak_rss_growth_mb": round(memory.growth_mb, 1),
                    "workers": {
                        str(pid): {
                            "rss_before_mb": round(memory.rss_before_kib[pid] * 1024 / MB, 1),
                            "peak_rss_after_mb": round(memory.hwm_after_kib[pid] * 1024 / MB, 1),
                        }
                        for pid in memory.rss_before_kib
                    },
                    "peak_reset_before_upload": memory.hwm_reset,
                    "evidence_id": item["id"],
                    "stored_files": removed,
                    "temporary_files_left": left_in_tmp,
                }
            )
            print(f"bench: run {n + 1}: {rate:.1f} MB/s, peak RSS growth {memory.growth_mb:.1f} MB")
        load_end = loadavg()
    except BaseException:
        # The server's log goes with the temporary directory: show why a request failed first.
        log_text = (tmp / "gunicorn.log").read_text(errors="replace") if (tmp / "gunicorn.log").exists() else ""
        if log_text.strip():
            print(f"bench: gunicorn's log ends with:\n{log_text[-3000:]}", file=sys.stderr)
        raise
    finally:
        if server is not None:
            stop(server)
        shutil.rmtree(tmp, ignore_errors=True)

    median_rate = statistics.median(rates)
    # Three decimals, compared as stored: 0.4996 must not pass as 0.50.
    ratio = round(median_rate / sha_rate, 3)
    growth = max(run["peak_rss_growth_mb"] for run in runs)
    targets = target_results({"upload_to_sha256sum_ratio": ratio, "peak_rss_growth_mb": growth})
    machine = machine_info()
    # Other work on this machine skews the figures. At the start the 1-minute load average is
    # others' work; at the end it includes this run's own (about 2 busy processes).
    machine["loadavg_1m"] = {"start": round(load_start, 2), "end": round(load_end, 2)}
    cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    machine["cpu"] = cpu.group(1) if cpu else None
    result = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_state(),
        "database": db,
        "machine": machine,
        "server": {**server_info(), "evidence": settings_used},
        "client": {
            "kind": "http.client, one connection per upload, multipart body streamed from a generator",
            "chunk_bytes": CLIENT_CHUNK,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB, 1),
            "warmup_uploads": WARMUP_UPLOADS,
            "warmup_bytes": WARMUP_BYTES,
        },
        "file": {"mib": FILE_MIB, "bytes": size, "content": "os.urandom", "sha256": baseline.digest},
        "sha256sum": {
            "seconds": round(sha_seconds, 3),
            "runs_seconds": [round(s, 3) for s in baseline.seconds],
            "mb_per_s": round(sha_rate, 1),
            "version": sha256sum_version(),
        },
        "server_hashes_in_process": {
            "what": f"SHA-256 + MD5 + SHA-1 (hashlib), {settings_used['upload_handler_chunk_bytes'] // 1024} KiB "
            "at a time, one thread: the upload's ceiling",
            "seconds": round(hash_seconds, 3),
            "mb_per_s": round(size / MB / hash_seconds, 1),
        },
        "upload": {"runs": runs, "median_mb_per_s": round(median_rate, 1)},
        "upload_to_sha256sum_ratio": ratio,
        "peak_rss_growth_mb": growth,
        "targets": targets,
        "all_targets_met": all(t["pass"] for t in targets),
        "total_seconds": round(time.perf_counter() - began, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"\nwrote {RESULTS.relative_to(ROOT)} ({result['total_seconds']} s in all)")
    return 0 if result["all_targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
