"""Booking API under load: gunicorn (4 workers) on loopback, SQLite and PostgreSQL.

For each database the script starts the app with gunicorn (``--preload``; sync workers
by default, ``--worker-class gthread`` for keep-alive connections), warms it up, then runs
bounded phases (each stops by itself after ``--seconds``):

* ``health``  — closed loop on a trivial endpoint (no database): the server's ceiling;
* ``book``    — closed loop of booking POSTs (distinct residents, spread over townships
  and half-days);
* ``lookup``  — closed loop of look-ups (``POST …/lookup``) of the bookings just made;
* ``paced``   — open loop at ``--rate`` requests/s (half bookings, half look-ups) for
  the latency target.

It prints requests/s, p50/p99 latency and errors per phase, and the booking/ceiling
ratio. PostgreSQL is used when DATABASE_URL points at one, e.g.::

    tests/scheduler/with_postgres.sh .venv/bin/python benchmarks/booking_load.py
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# The 19 townships of 庆元县 (gazetteer codes).
TOWNS = tuple(
    "331126" + n
    for n in (
        "001",
        "002",
        "003",
        "101",
        "102",
        "104",
        "105",
        "106",
        "107",
        "200",
        "201",
        "202",
        "203",
        "204",
        "205",
        "206",
        "207",
        "209",
        "211",
    )
)
ITEM = "resident-pension-claim"
PREBUILT = 8000  # request bodies each client makes before a phase starts
WARM_UP_S = 3.0


@dataclass(frozen=True)
class Result:
    phase: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def id_number(n: int) -> str:
    """A valid ID number unique for n < 9,400,000, born 1920–1945 (80+: eligible by age)."""
    from scheduler.identity import check_char

    birth = date(1920, 1, 1) + timedelta(days=n // 1000)
    first17 = f"331126{birth:%Y%m%d}{n % 1000:03d}"
    return first17 + check_char(first17)


def prepare(url: str, workdir: Path) -> dict[str, str]:
    """Migrate, load demo data with ample capacity; return the app's environment."""
    settings = workdir / "bench.toml"
    settings.write_text(
        'capacity = "per_clerk"\nvisits_per_clerk_half_day = 100000\n'
        "lookup_rate = [100000000, 1]\n"
        "write_rate = [100000000, 1]\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ONETRIP_SECRET_KEY": "benchmark-secret-key-0123456789abcdef",
        "ONETRIP_SETTINGS": str(settings),
        "ONETRIP_DATA_DIR": str(workdir / "data"),
        "ONETRIP_MIGRATE": "1",
    }
    code = (
        "from datetime import datetime\n"
        "from scheduler.demo import load_demo\n"
        "from scheduler.settings import TZ\n"
        "from scheduler.web import create_app\n"
        "app = create_app()\n"
        "st = app.extensions['onetrip']\n"
        "from datetime import timedelta\n"
        "from sqlalchemy import select\n"
        "from scheduler.models import Clerk, Zone\n"
        "today = datetime.now(TZ).date()\n"
        "with st.write_session() as s:\n"
        "    load_demo(s, st.settings, today)\n"
        # The demo puts its few clerks in some zones only: one more clerk per zone and
        # half-day for a month, so that every township can be booked (ample capacity).
        "    for z in list(s.scalars(select(Zone))):\n"
        "        c = Clerk(name='bench-' + z.code, skills='')\n"
        "        s.add(c)\n"
        "        s.flush()\n"
        "        for d in range(31):\n"
        "            for h in ('am', 'pm'):\n"
        "                st.service.add_shift(s, c.id, z.code, today + timedelta(days=d), h)\n"
        "    s.commit()\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=REPO)
    env.pop("ONETRIP_MIGRATE")
    return env


def start_gunicorn(
    env: dict[str, str], port: int, workers: int, worker_class: str, threads: int
) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "gunicorn",
        "--workers", str(workers), "--worker-class", worker_class, "--threads", str(threads),
        "--preload",
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
        "scheduler.web:create_app()",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=REPO)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def bookable_dates(port: int) -> list[str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/api/slots?item={ITEM}&town_code={TOWNS[0]}")
    slots = json.loads(conn.getresponse().read())
    return sorted({s["date"] for s in slots})


def booking_body(n: int, dates: list[str], rng: random.Random) -> bytes:
    body = {
        "item": ITEM,
        "applicant": {"name": "测试", "id_number": id_number(n), "phone": f"139{n:08d}"},
        "address": {"town_code": rng.choice(TOWNS), "detail": "测试地址1号"},
        "reason": "age",
        "date": rng.choice(dates),
        "half_day": rng.choice(["am", "pm"]),
    }
    return json.dumps(body).encode()


def client(
    args: tuple[str, int, int, float, float, list[str], list[str], int, Any],
) -> tuple[int, int, list[float], list[str]]:
    """One client process, requests until the phase ends on one HTTP/1.1 connection,
    which http.client reopens whenever the server closes it (sync workers do after
    every response; gthread workers keep it alive)."""
    phase, port, worker, seconds, interval, dates, refs, base_n, barrier = args
    rng = random.Random(worker)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat: list[float] = []
    made: list[str] = []
    errors = count = 0
    n = base_n
    # Bodies made before the clock starts, so the generator takes less of the CPU it
    # shares with the server; more are made on the fly if a phase outruns them.
    ready = (
        [booking_body(base_n + 1 + i, dates, rng) for i in range(PREBUILT)]
        if phase in ("book", "paced")
        else []
    )
    barrier.wait()
    next_at = time.monotonic()
    stop_at = next_at + seconds  # every client leaves the barrier at the same moment
    while time.monotonic() < stop_at:
        if interval:
            next_at += interval
            pause = next_at - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        kind = phase if phase != "paced" else ("book" if count % 2 == 0 or not refs else "lookup")
        t0 = time.perf_counter()
        try:
            if kind == "health":
                conn.request("GET", "/api/health")
                ok = {200}
            elif kind == "book":
                n += 1
                body = ready[n - base_n - 1] if n - base_n <= len(ready) else None
                conn.request(
                    "POST",
                    "/api/bookings",
                    body=body or booking_body(n, dates, rng),
                    headers={"Content-Type": "application/json"},
                )
                ok = {201}
            else:
                ref = rng.choice(refs)
                conn.request(
                    "POST",
                    f"/api/bookings/{ref[:8]}/lookup",
                    body=json.dumps({"phone_last4": ref[8:]}),
                    headers={"Content-Type": "application/json"},
                )
                ok = {200}
            resp = conn.getresponse()
            data = resp.read()
            lat.append((time.perf_counter() - t0) * 1000)
            count += 1
            if resp.status not in ok:
                errors += 1
            elif kind == "book" and len(made) < 2000:
                made.append(json.loads(data)["reference"] + f"{n:08d}"[-4:])
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()
    return count, errors, lat, made


def run_phase(
    phase: str, port: int, seconds: float, clients: int, dates: list[str], refs: list[str],
    rate: float, offset: int,
) -> tuple[Result, list[str]]:  # fmt: skip
    ctx = mp.get_context("fork")
    barrier = ctx.Manager().Barrier(clients)
    interval = clients / rate if phase == "paced" else 0.0
    stride = 50_000 if phase == "paced" else 1_000_000  # distinct residents per client
    jobs = [
        (phase, port, w, seconds, interval, dates, refs, offset + w * stride, barrier)
        for w in range(clients)
    ]
    with ctx.Pool(clients) as pool:
        out = pool.map(client, jobs)
    lat = [x for _, _, ls, _ in out for x in ls]
    made = [r for _, _, _, ms in out for r in ms]
    return (
        Result(phase, sum(c for c, _, _, _ in out), sum(e for _, e, _, _ in out), seconds, lat),
        made,
    )


def bench_backend(name: str, url: str, args: argparse.Namespace, workdir: Path) -> list[Result]:
    env = prepare(url, workdir)
    port = free_port()
    proc = start_gunicorn(env, port, args.workers, args.worker_class, args.threads)
    try:
        dates = bookable_dates(port)
        # Warm-up, not measured: every worker serves requests before the clock starts.
        run_phase("health", port, WARM_UP_S, args.clients, dates, [], args.rate, 0)
        results = []
        r, _ = run_phase("health", port, args.seconds, args.clients, dates, [], args.rate, 0)
        results.append(r)
        r, refs = run_phase("book", port, args.seconds, args.clients, dates, [], args.rate, 0)
        results.append(r)
        r, _ = run_phase("lookup", port, args.seconds, args.clients, dates, refs, args.rate, 0)
        results.append(r)
        r, _ = run_phase(
            "paced", port, args.seconds, args.paced_clients, dates, refs, args.rate, 9_000_000
        )
        results.append(r)
        return results
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=8, help="client processes")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument(
        "--worker-class",
        default="sync",
        choices=("sync", "gthread"),
        help="gunicorn worker class: sync (gunicorn's default; a new connection per request, "
        "as behind nginx) or gthread (keep-alive connections straight to gunicorn)",
    )
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s of the paced phase")
    parser.add_argument("--paced-clients", type=int, default=2, help="client processes, paced")
    args = parser.parse_args(argv)

    backends: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="onetrip-bench-") as tmp:
        backends.append(("SQLite", f"sqlite:///{tmp}/bench.sqlite3"))
        pg = os.environ.get("DATABASE_URL", "")
        if pg.startswith("postgresql"):
            backends.append(("PostgreSQL", pg.replace("postgresql://", "postgresql+psycopg://", 1)))
        else:
            print("note: DATABASE_URL is not PostgreSQL; measuring SQLite only", file=sys.stderr)
        table: list[tuple[str, Result]] = []
        for name, url in backends:
            for r in bench_backend(name, url, args, Path(tmp)):
                table.append((name, r))

    worker = "sync" if args.worker_class == "sync" else f"gthread x{args.threads}, keep-alive"
    head = (
        f"booking_load: gunicorn {args.workers} workers ({worker}), "
        f"{args.clients} client processes, {args.seconds:.0f} s per phase, "
        f"paced at {args.rate:.0f} req/s"
    )
    print(f"\n{head}; {datetime.now():%Y-%m-%d}")
    print("\n| database | phase | requests | req/s | p50 ms | p99 ms | errors |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in table:
        cells = [name, r.phase, str(r.requests), f"{r.rps:.0f}"]
        cells += [f"{r.pct(0.50):.1f}", f"{r.pct(0.99):.1f}", str(r.errors)]
        print("| " + " | ".join(cells) + " |")
    print()
    for name, _ in backends:
        by = {r.phase: r for n, r in table if n == name}
        ratio = by["book"].rps / by["health"].rps if by["health"].rps else 0.0
        errors = sum(r.errors for r in by.values())
        print(
            f"{name}: booking throughput = {ratio:.0%} of the trivial endpoint; "
            f"paced p99 = {by['paced'].pct(0.99):.1f} ms; errors = {errors}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
