"""The cost of the row-level-security execute wrapper (pse_crm/rls.py), per query.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<a migrated database> \\
        .venv/bin/python bench/rls_overhead.py [--queries 3000]

Times the same small indexed query with the wrapper removed and installed, in autocommit
and inside one transaction, with the scope steady and with the scope switching between
two tenants before every query (the worst case: a set_config round trip each time).
Prints microseconds per query (best of five interleaved rounds); never asserts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pse_crm.settings.local")
os.environ.setdefault("DEBUG", "false")


def main():
    import django

    django.setup()
    from django.db import connection, transaction

    from pse_crm import rls
    from pse_crm.models import Membership, Tenant
    from pse_crm.tenancy import tenant_scope

    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=3000)
    n = parser.parse_args().queries
    if connection.vendor != "postgresql":
        sys.exit("PostgreSQL only")
    tenants = list(Tenant.objects.order_by("pk")[:2])
    if not tenants:
        sys.exit("the database has no tenant; run seed_demo first")
    a, b = tenants[0], tenants[-1]
    connection.ensure_connection()

    def run(switching: bool, atomic: bool) -> float:
        with transaction.atomic() if atomic else nullcontext():
            start = time.perf_counter()
            for i in range(n):
                t = (a if i % 2 else b) if switching else a
                with tenant_scope(t):
                    Membership.objects.filter(user_id=0).exists()
            return (time.perf_counter() - start) / n * 1e6

    print(f"{n} queries each; microseconds per query")
    print(f"{'case':<34} {'no wrapper':>11} {'wrapper':>9} {'overhead':>9}")
    for switching in (False, True):
        for atomic in (False, True):
            bare_runs, wrapped_runs = [], []
            for _round in range(5):  # interleaved; the best of five resists noise
                connection.execute_wrappers[:] = [
                    w for w in connection.execute_wrappers if w is not rls._execute_wrapper
                ]
                bare_runs.append(run(switching, atomic))
                rls.install(connection=connection)
                wrapped_runs.append(run(switching, atomic))
            bare, wrapped = min(bare_runs), min(wrapped_runs)
            label = f"{'switching' if switching else 'steady'} scope, " + (
                "in a transaction" if atomic else "autocommit"
            )
            print(f"{label:<34} {bare:>11.0f} {wrapped:>9.0f} {wrapped - bare:>+9.0f}")


if __name__ == "__main__":
    main()
