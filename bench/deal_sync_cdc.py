"""Benchmark 10,000 Change Data Capture events in one ``POST /api/v1/deals/sync/``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pse_bench \\
        .venv/bin/python bench/deal_sync_cdc.py [--events 10000] [--rounds 3]

PostgreSQL only; the database is created and migrated if needed, and the tenant
``bench-sync`` gets its partners and reps once (bench/api_sync.py's world). A gunicorn
server (this checkout, DEBUG off) runs on 127.0.0.1 and a free port.

Each round times three requests of ``--events`` events each, as a CometD client receives
them (``schema``, ``payload`` with its ``ChangeEventHeader``, ``event``):

1. ``create``: a CREATE event per new Opportunity (the tenant's deals deleted first);
2. ``update``: an UPDATE per Opportunity carrying three changed fields (the partial rule:
   every other field stays), one in ten setting Amount to null (``nulledFields``);
3. ``replay``: the UPDATE body again (every event unchanged).

It prints seconds and events per second for each, the best of ``--rounds``. Figures, not
assertions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._api_server import post_ok, running_server  # noqa: E402
from bench.api_sync import (  # noqa: E402  (django.setup() runs there)
    PARTNERS,
    REPS,
    delete_deals,
    ensure_database,
    ensure_world,
)
from pse_crm.sfid import to_18  # noqa: E402

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _ms(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


def _header(change: str, opp: str, when: dt.datetime, **more) -> dict:
    return {
        "entityName": "Opportunity",
        "recordIds": [opp],
        "changeType": change,
        "changeOrigin": "com/salesforce/api/rest/62.0",
        "transactionKey": f"bench-{opp}-{change}",
        "sequenceNumber": 1,
        "commitTimestamp": _ms(when),
        "commitNumber": _ms(when),
        "commitUser": to_18("005A00000000000"),
        **more,
    }


def _event(payload: dict, replay: int) -> dict:
    return {"schema": "IeRuaY6cbI_HsV8Rv1Mc5g", "payload": payload, "event": {"replayId": replay}}


def creates(n: int) -> list[dict]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        opp = to_18(f"006C0000{i:07d}")
        when = T0 + dt.timedelta(seconds=i)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        payload = {
            "ChangeEventHeader": _header("CREATE", opp, when, changedFields=[]),
            "Name": f"Opportunity {i}",
            "Amount": round(rng.uniform(1e5, 5e7), 2),
            "CurrencyIsoCode": "JPY",
            "StageName": "Prospecting",
            "CloseDate": (dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365))).isoformat(),
            "IsClosed": False,
            "IsWon": False,
            "OwnerId": to_18(f"005A0000{rng.randrange(REPS):07d}"),
            "PartnerAccountId": to_18(f"001A0000{rng.randrange(PARTNERS):07d}"),
            "CreatedDate": stamp,
            "LastModifiedDate": stamp,
        }
        out.append(_event(payload, i + 1))
    return out


def updates(n: int) -> list[dict]:
    out = []
    for i in range(n):
        opp = to_18(f"006C0000{i:07d}")
        when = T0 + dt.timedelta(days=1, seconds=i)
        nulled = i % 10 == 0
        payload = {
            "ChangeEventHeader": _header(
                "UPDATE",
                opp,
                when,
                changedFields=["StageName", "Amount", "LastModifiedDate"],
                nulledFields=["Amount"] if nulled else [],
            ),
            "StageName": "Negotiation/Review",
            "Amount": None if nulled else 1_000_000.0 + i,
            "LastModifiedDate": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
        out.append(_event(payload, n + i + 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ensure_database()
    tenant, _baseline, key = ensure_world()
    create_body = json.dumps(creates(args.events)).encode()
    update_body = json.dumps(updates(args.events)).encode()
    best: dict[str, float] = {}
    answers: dict[str, dict] = {}
    with running_server() as (host, port):
        for _ in range(args.rounds):
            delete_deals(tenant)
            for phase, payload in (
                ("create", create_body),
                ("update", update_body),
                ("replay", update_body),
            ):
                answer, seconds = post_ok(
                    host,
                    port,
                    "/api/v1/deals/sync/",
                    payload,
                    key=key,
                    content_type="application/json",
                    what=phase,
                )
                answers[phase] = answer
                best[phase] = min(best.get(phase, seconds), seconds)
    print(f"{args.events} change events per request, best of {args.rounds} rounds (HTTP)")
    for phase in ("create", "update", "replay"):
        a = answers[phase]
        counts = ", ".join(f"{k} {a[k]}" for k in ("created", "updated", "unchanged", "stale"))
        print(
            f"  {phase:7} {best[phase]:7.2f} s  {args.events / best[phase]:9.0f} events/s"
            f"  ({counts}; {len(create_body if phase == 'create' else update_body) / 1e6:.1f} MB)"
        )


if __name__ == "__main__":
    main()
