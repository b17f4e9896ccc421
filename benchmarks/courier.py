"""Courier cut-off at scale: 10,000 ready certificates at one cut-off, and QR tokens.

A seeded generator imports N certificates (CSV path, every row validated) spread over the
19 township-level units of 庆元县 (the county town weighted heavier) and out-of-county
addresses (30 % by default); 60 % wait at the county hall, the rest at the township
station of their own township; promised dates 1–5 days ahead. Then one cut-off runs
(`scheduler.courier.cutoff.run_cutoff`, the job's function, with its commit) on a fresh
SQLite file. Printed: import and batching seconds, runs formed per zone beside the lower
bound ⌈parcels / capacity⌉, parcels per run, total km, runs over the maximum duration;
then Ed25519 tokens signed and verified per second.

    python benchmarks/courier.py                    # 10,000 certificates, capacity 40
    python benchmarks/courier.py --certificates 2000 --capacity 30 --seed 7
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from guide.catalog import load
from scheduler import db
from scheduler.booking import ensure_zones
from scheduler.courier import intake, tokens
from scheduler.courier.audit import Actor
from scheduler.courier.cutoff import run_cutoff, zones_of_towns
from scheduler.courier.models import Batch, BatchKind, Certificate, Parcel
from scheduler.courier.settings import CourierSettings
from scheduler.protect import Keyring, Protector
from scheduler.settings import QINGYUAN_ZONES, TZ

CITY = ("331126001", "331126002", "331126003")
OUT = (
    ("浙江省", "杭州市", "西湖区"),
    ("浙江省", "丽水市", "莲都区"),
    ("福建省", "南平市", "松溪县"),
    ("上海市", "上海市", "浦东新区"),
    ("浙江省", "温州市", "鹿城区"),
)
ITEMS = ("disability-card-new", "birth-registration", "household-registration-certificate")


def make_csv(n: int, out_share: float, seed: int, catalog: object, today: date) -> bytes:
    rng = random.Random(seed)
    towns = list(catalog.townships)  # type: ignore[attr-defined]
    weights = [4.0 if t in CITY else 1.0 for t in towns]
    stations = {o.town_code: o.id for o in catalog.offices.values() if o.kind == "station"}  # type: ignore[attr-defined]
    lines = [
        "办件编号,事项编码,持证人,手机号,送达范围,乡镇代码,省,市,区县,详细地址,承诺送达日期,存放地点"
    ]
    for i in range(n):
        promised = (today + timedelta(days=rng.randint(1, 5))).isoformat()
        phone = f"139{rng.randrange(10**8):08d}"
        item = ITEMS[i % len(ITEMS)]
        if rng.random() < out_share:
            prov, city, district = rng.choice(OUT)
            lines.append(
                f"QY{i:08d},{item},居民{chr(0x4E00 + i % 500)},{phone},县外,,"
                f"{prov},{city},{district},某路{i % 300}号,{promised},county-hall"
            )
        else:
            town = rng.choices(towns, weights)[0]
            office = stations.get(town, "county-hall") if rng.random() < 0.4 else "county-hall"
            lines.append(
                f"QY{i:08d},{item},居民{chr(0x4E00 + i % 500)},{phone},县内,{town},"
                f",,,{i % 50}号,{promised},{office}"
            )
    return ("\n".join(lines) + "\n").encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=10_000)
    parser.add_argument("--out-share", type=float, default=0.3)
    parser.add_argument("--capacity", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=2000)
    args = parser.parse_args(argv)

    catalog = load()
    protector = Protector(Keyring.generate())
    settings = CourierSettings(run_capacity=args.capacity)
    today = date(2026, 6, 1)
    now = datetime(2026, 6, 1, 10, 0, tzinfo=TZ)
    cutoff = datetime(2026, 6, 1, 10, 30, tzinfo=TZ)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'courier.sqlite3'}"
        db.upgrade(url)
        engine = db.make_engine(url)
        _, write = db.session_factories(engine)
        data = make_csv(args.certificates, args.out_share, args.seed, catalog, today)
        header, *rows = data.decode().splitlines()
        with write() as s:
            ensure_zones(s, QINGYUAN_ZONES)
            s.commit()
        import_s = 0.0
        for first in range(0, len(rows), intake.MAX_IMPORT_ROWS):  # files of at most 5,000
            part = "\n".join([header, *rows[first : first + intake.MAX_IMPORT_ROWS]]) + "\n"
            with write() as s:
                t0 = time.perf_counter()
                intake.import_csv(
                    s, catalog, protector, part.encode(), now=now, actor=Actor("staff", "import")
                )
                s.commit()
                import_s += time.perf_counter() - t0
        with write() as s:
            t0 = time.perf_counter()
            result = run_cutoff(
                s,
                "county-hall",
                cutoff,
                cutoff + timedelta(minutes=1),
                catalog=catalog,
                settings=settings,
            )
            s.commit()
            batching_s = time.perf_counter() - t0
        with write() as s:
            zones = zones_of_towns(s)
            county_parcels: Counter[str] = Counter()
            for town, parcels in s.execute(
                select(Certificate.town_code, Certificate.parcels).where(
                    Certificate.scope == "county"
                )
            ):
                county_parcels[zones[town]] += parcels
            runs = list(s.scalars(select(Batch).where(Batch.kind == BatchKind.RUN)))
            per_run = {b.id: 0 for b in runs}
            for (batch_id,) in s.execute(select(Parcel.batch_id)):
                if batch_id in per_run:
                    per_run[batch_id] += 1
            ems = s.scalars(select(Batch).where(Batch.kind == BatchKind.EMS)).first()
            ems_n = (
                len(list(s.scalars(select(Parcel.id).where(Parcel.batch_id == ems.id))))
                if ems
                else 0
            )
            by_zone: dict[str, list[Batch]] = defaultdict(list)
            for b in runs:
                by_zone[b.zone_code or ""].append(b)
            cert = s.scalars(select(Certificate)).first()
            assert cert is not None
            token = tokens.token_for(s, protector, cert, now=now)
            kid, private = tokens.signing_key(s, protector, now=now)
            keys = tokens.public_keys(s)
            claims = tokens.claims_of(cert)
        engine.dispose()

    print(
        f"certificates {args.certificates} ({args.out_share:.0%} out of county), "
        f"run capacity {args.capacity} parcels, max run {settings.max_run_s // 3600} h"
    )
    print(
        f"import (CSV, validated) {import_s:.1f} s; cut-off batching {batching_s:.1f} s "
        f"(includes the commit)"
    )
    print(
        f"batched {result.certificates}, left ready {len(result.left_ready)}; "
        f"EMS hand-over list {ems_n} parcels"
    )
    print()
    print(
        "| zone | parcels | lower bound ⌈parcels/capacity⌉ | runs formed | km | over max duration |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    total_lb = 0
    for zone in sorted(county_parcels):
        lb = math.ceil(county_parcels[zone] / args.capacity)
        total_lb += lb
        zr = by_zone.get(zone, [])
        km = sum(b.distance_m for b in zr) / 1000
        over = sum(1 for b in zr if b.over_duration)
        print(f"| {zone} | {county_parcels[zone]} | {lb} | {len(zr)} | {km:.0f} | {over} |")
    km_all = sum(b.distance_m for b in runs) / 1000
    print(
        f"| all | {sum(county_parcels.values())} | {total_lb} | {len(runs)} | {km_all:.0f} | "
        f"{sum(1 for b in runs if b.over_duration)} |"
    )
    sizes = list(per_run.values())
    if sizes:
        print(
            f"\nparcels per run: mean {statistics.mean(sizes):.1f}, min {min(sizes)}, "
            f"max {max(sizes)}; runs/lower bound {len(runs) / total_lb:.3f}"
        )

    n = args.tokens
    t0 = time.perf_counter()
    for _ in range(n):
        tokens.sign(private, kid, claims)
    sign_rate = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(n):
        tokens.verify(token, keys)
    verify_rate = n / (time.perf_counter() - t0)
    print(
        f"\ntokens ({len(token)} chars): signed {sign_rate:,.0f}/s, verified {verify_rate:,.0f}/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
