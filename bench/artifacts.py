"""A 25 MB file up and down through one openplug server process: its peak
memory growth, and its throughput against baselines from the same run.

Why these measurements
----------------------
Files are the one thing a visitor can send that is much larger than a
request body (``OPENPLUG_MAX_UPLOAD_BYTES``, 25 MiB by default). The upload
URL spools the multipart body to disk in ~1 MB chunks while counting it,
reads its type from the first bytes, then hands the file to storage; the
download streams from storage in 1 MB chunks. If any step held the file
whole, the server's memory would grow by the file's size per upload in
flight. So, on ONE server process (``openplug serve``: SQLite, local
storage under a fresh temporary data directory):

(a) UPLOAD: ``artifacts.prepare`` with a PAT, then the multipart POST of a
    25 MB ZIP (an allowed type) to the URL it returns, the client streaming
    from disk. Measured: the server's peak RSS growth during the POST (the
    kernel's high-water mark, ``VmHWM``, reset just before through
    ``/proc/<pid>/clear_refs``), and the upload's throughput. Target: growth
    under 2 MB (2x the 1 MB chunk buffer), not 25 MB.
(b) DOWNLOAD: ``artifacts.locate``, then GET of its URL, read in chunks.
    Same measurements and target.

Baselines, in this run on this disk: (0) a plain file copy of the same file
into the same data directory (``shutil.copyfile``): the disk's own speed,
what an upload's spool-and-store costs at best; (0') a bare Starlette app
in its own uvicorn process whose POST writes ``request.stream()`` to a file
and whose GET streams a file back in 1 MB chunks: what the ASGI stack costs
before any of openplug's checks. Ratios are printed against both.

A run counts only when the upload was accepted as ``application/zip`` of
the exact size, and the download returned the same bytes (SHA-256); else
the script says so and exits 1. Missing the memory target is reported
(PASS / ABOVE TARGET), not failed.

Usage: ``.venv/bin/python bench/artifacts.py [--megabytes 25] [--keep]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

# Same directory: the server process and its CLI are shared.
from identify import VENV_BIN, BenchError, Server, free_port, git_revision

TARGET_GROWTH_BYTES = 2 * 1024 * 1024
MB = 1_000_000

BARE_APP = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    target = Path(sys.argv[2])

    async def upload(request):
        size = 0
        with target.open("wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                f.write(chunk)
        return JSONResponse({"size": size})

    async def download(request):
        def chunks():
            with target.open("rb") as f:
                while chunk := f.read(1024 * 1024):
                    yield chunk
        return StreamingResponse(chunks(), media_type="application/octet-stream")

    app = Starlette(routes=[Route("/up", upload, methods=["POST"]),
                            Route("/down", download)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
    """
)


@dataclass
class Transfer:
    seconds: float
    growth: int  # peak RSS growth of the server process, bytes

    def rate(self, size: int) -> float:
        return size / self.seconds


def make_zip(path: Path, size: int) -> None:
    """A ZIP of ``size`` random bytes, stored (not compressed), a little
    over ``size`` in all."""
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z,
        z.open("random.bin", "w", force_zip64=True) as member,
    ):
        left = size - 200
        while left > 0:
            n = min(left, MB)
            member.write(os.urandom(n))
            left -= n


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _peak(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise BenchError("no VmHWM in /proc: the peak cannot be measured here")


def measured(pid: int, work: object) -> Transfer:
    """Run ``work()`` and measure the server's peak RSS above its RSS just before."""
    assert callable(work)
    process = psutil.Process(pid)
    _reset_peak(pid)
    before = process.memory_info().rss
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    return Transfer(seconds, max(_peak(pid) - before, 0))


def upload_file(url: str, path: Path, fields: list[tuple[str, str]], name: str) -> httpx.Response:
    with path.open("rb") as f:
        files = [*((k, (None, v)) for k, v in fields), ("file", (name, f, "application/zip"))]
        return httpx.post(url, files=files, timeout=300)


def download_to(url: str, target: Path) -> str:
    digest = hashlib.sha256()
    with httpx.stream("GET", url, timeout=300) as r, target.open("wb") as out:
        if r.status_code != 200:
            raise BenchError(f"download answered {r.status_code}")
        for chunk in r.iter_bytes(1024 * 1024):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MB):
            digest.update(chunk)
    return digest.hexdigest()


def copy_baseline(source: Path, data_dir: Path, runs: int = 3) -> float:
    times = []
    for i in range(runs):
        target = data_dir / f"copy-{i}.bin"
        started = time.perf_counter()
        shutil.copyfile(source, target)
        with target.open("rb") as f:
            os.fsync(f.fileno())
        times.append(time.perf_counter() - started)
        target.unlink()
    return statistics.median(times)


def bare_baseline(tmp: Path, source: Path) -> tuple[Transfer, Transfer]:
    port = free_port()
    stored = tmp / "bare-stored.bin"
    proc = subprocess.Popen(
        [str(VENV_BIN / "python"), "-c", BARE_APP, str(port), str(stored)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(base + "/nothing", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError("the bare Starlette baseline did not start") from None
                time.sleep(0.1)
        upload_file(base + "/up", source, [], "bare.zip")  # warm-up, as for openplug
        download_to(base + "/down", tmp / "bare-down.bin")
        up = measured(proc.pid, lambda: upload_file(base + "/up", source, [], "bare.zip"))
        down = measured(proc.pid, lambda: download_to(base + "/down", tmp / "bare-down.bin"))
        return up, down
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run(args: argparse.Namespace, tmp: Path) -> int:
    size = args.megabytes * MB
    source = tmp / "upload.zip"
    make_zip(source, size)
    file_size = source.stat().st_size
    data_dir = tmp / "data"
    server = Server(data_dir, tmp / "server.log")
    print(f"starting openplug serve on {server.base} (data dir {data_dir}) ...")
    server.start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        pat = server.cli("pat", "create", "--hint", "bench")["token"]
        headers = {"Authorization": pat}
        # Warm-up: the same file once the same way, so that what happens once
        # per process (queries compiled, the thread pool's threads and their
        # malloc arenas started) is not counted as the file's.
        small = source
        warm = httpx.post(server.base + "/artifacts.prepare", json={"file_name": "warm.zip"},
                          headers=headers).json()  # fmt: skip
        fields = [(f["key"], f["value"]) for f in warm["form_data"]]
        warmed = upload_file(warm["url"], small, fields, "warm.zip").json()["artifact"]
        download_to(warmed["url"], tmp / "warm-down.bin")
        prepared = httpx.post(
            server.base + "/artifacts.prepare",
            json={"file_name": "bench.zip", "file_size": file_size}, headers=headers,
        ).json()  # fmt: skip
        fields = [(f["key"], f["value"]) for f in prepared["form_data"]]
        answer: list[httpx.Response] = []
        up = measured(
            pid, lambda: answer.append(upload_file(prepared["url"], source, fields, "bench.zip"))
        )
        r = answer[0]
        if r.status_code != 200:
            raise BenchError(f"upload refused: {r.status_code} {r.text[:300]}")
        stored = r.json()["artifact"]["file"]
        if stored != {"type": "application/zip", "name": "bench.zip", "size": file_size}:
            raise BenchError(f"upload stored as {stored}")
        located = httpx.get(
            server.base + "/artifacts.locate", params={"id": prepared["id"]}, headers=headers
        ).json()
        digests: list[str] = []
        down = measured(pid, lambda: digests.append(download_to(located["url"], tmp / "d.bin")))
        if digests[0] != sha256(source):
            raise BenchError("the download is not the file uploaded")
        copy_seconds = copy_baseline(source, data_dir)
    finally:
        server.stop()
    bare_up, bare_down = bare_baseline(tmp, source)

    copy_rate = file_size / copy_seconds
    print()
    print(f"artifacts bench, {git_revision()}, python {sys.version.split()[0]}")
    print("  server   openplug serve, 1 process / 1 uvicorn worker, SQLite, local storage")
    print(f"  file     {file_size / MB:.1f} MB ZIP (random, stored), chunk buffers 1 MB")
    print(f"  (0)  plain file copy, same disk:   {copy_rate / MB:7.1f} MB/s")
    print(f"  (0') bare Starlette upload:        {bare_up.rate(file_size) / MB:7.1f} MB/s, "
          f"peak growth {bare_up.growth / MB:.1f} MB")  # fmt: skip
    print(f"  (0') bare Starlette download:      {bare_down.rate(file_size) / MB:7.1f} MB/s, "
          f"peak growth {bare_down.growth / MB:.1f} MB")  # fmt: skip
    ok = True
    for label, t, bare in (("(a)  upload  ", up, bare_up), ("(b)  download", down, bare_down)):
        verdict = "PASS" if t.growth < TARGET_GROWTH_BYTES else "ABOVE TARGET"
        ok = ok and verdict == "PASS"
        print(
            f"  {label}  {t.rate(file_size) / MB:7.1f} MB/s; "
            f"x{t.rate(file_size) / copy_rate:.2f} of the copy, "
            f"x{t.rate(file_size) / bare.rate(file_size):.2f} of bare Starlette; "
            f"server peak memory growth {t.growth / MB:.2f} MB for a {file_size / MB:.1f} MB "
            f"file (target < {TARGET_GROWTH_BYTES / MB:.1f} MB): {verdict}"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=25)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="openplug-bench-files-"))
    try:
        return run(args, tmp)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
