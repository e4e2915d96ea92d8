"""``manage.py seed_demo --tenant S``: a tenant's demo (and benchmark) data, deterministic.

The default data tells the method's story (see docs/method.md and DOMAIN.md); what the
rows are is decided in ``activities.demo_data``, this command writes them:

* partners of very different sizes (a long tail: one large SI, many small resellers);
* most reps inactive (the 1% resource problem): in every partner only 10–35% of the reps
  are active (a view in the last 90 days, a win in the last 180 days or a deal created in
  the last 90 days), a different share per partner; the rest read and sold only before
  that, if ever (old views, stale open deals, old wins);
* inside each partner a thin top: a few performers (keyman ①: many views, wins), a
  motivated group (keyman ②: many recent views, no win yet), a few independents who win
  without reading, a casual rest; views go with wins;
* momentum: performers read all along, the others began at different weeks of the view
  window, so the weekly count of active reps (``backfill_momentum``) grows;
* two or three partners (never the largest) with no performer yet: there no rep both
  reads and wins in the windows;
* bursts of views in the last hours (5–8 views within an hour, one motivated rep per
  partner) and a few reps reading for the first time, so the deal-signal rules have
  something to raise (``seed_enablement_demo`` evaluates the recent views);
* deals in every stage, Salesforce-style 18-character ids, partners' Account Ids.

Not yet shown: partners' total sales in the category, so no share of wallet (and the
partners' ~4 competing products are only a number on the partner).

Same seed, same data (names, counts, stages; dates are relative to today's date in the
tenant's time zone, bursts to the current time). Views and deals are written with COPY on
PostgreSQL, so ``--reps 50000 --views 2000000`` (200,000 deals) takes minutes, and with
batched plain INSERTs on SQLite (the default demo seeds in seconds).
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.db.models import Sum
from django.db.models.functions import TruncQuarter
from django.utils import timezone
from tqdm import tqdm

from activities import demo_data as demo
from activities.models import Deal, Material, MaterialView, RepMaterialSpan, RepViewDay
from activities.services.currencies import deal_amounts_convert
from activities.services.rollups import view_rollups_fold
from partners.models import Partner, PartnerDomain, PartnerTotal
from partners.periods import QUARTER, period_of, period_shift
from pse_crm.management.tenants import tenant_from_slug
from pse_crm.models import Tenant
from pse_crm.tenancy import tenant_scope
from reps.models import Rep

BATCH = 5_000


def _extra_columns(model: type[models.Model], columns: Sequence[str], now: dt.datetime):
    """Every other concrete column with its model default, so COPY stays correct when a
    field with a default is added to the model later."""
    names, values = [], []
    for f in model._meta.concrete_fields:
        # (A generated column is the database's to fill.)
        if f.primary_key or f.generated or f.column in columns:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = now
        else:
            value = f.get_default()
        names.append(f.column)
        values.append(f.get_db_prep_save(value, connection))
    return names, values


def _adapter(field: models.Field):
    """How one column's Python value becomes a query parameter (what bulk_create would do
    per value, decided once per column)."""
    ops = connection.ops
    if isinstance(field, models.DateTimeField):
        return ops.adapt_datetimefield_value
    if isinstance(field, models.DateField):
        return ops.adapt_datefield_value
    if isinstance(field, models.DecimalField):
        return lambda v: ops.adapt_decimalfield_value(v, field.max_digits, field.decimal_places)
    return None


def _insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[tuple],
    *,
    now: dt.datetime,
    bar: tqdm,
) -> int:
    """Insert ``rows`` (values for ``columns``, which include tenant_id): COPY on
    PostgreSQL, batched ``executemany`` of plain INSERTs elsewhere (no model instances:
    the SQLite demo seeds in seconds). Sends no model signals, like bulk_create."""
    count = 0
    extra_names, extra_values = _extra_columns(model, columns, now)
    extra = tuple(extra_values)
    cols = ", ".join(connection.ops.quote_name(c) for c in (*columns, *extra_names))
    table = connection.ops.quote_name(model._meta.db_table)
    if connection.vendor == "postgresql":
        from pse_crm import rls

        with connection.cursor() as cursor:
            rls.sync(connection)  # COPY bypasses Django's execute wrapper
            with cursor.cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + extra)
                    count += 1
                    if count % BATCH == 0:
                        bar.update(BATCH)
        bar.update(count % BATCH)
        return count
    fields = {f.column: f for f in model._meta.concrete_fields}
    adapters = [(i, a) for i, c in enumerate(columns) if (a := _adapter(fields[c])) is not None]
    marks = ", ".join(["%s"] * (len(columns) + len(extra)))
    sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
    batch: list[tuple] = []

    def flush() -> None:
        with connection.cursor() as cursor:
            cursor.executemany(sql, batch)
        bar.update(len(batch))
        batch.clear()

    for row in rows:
        values = list(row)
        for i, adapt in adapters:
            values[i] = adapt(values[i])
        batch.append((*values, *extra))
        count += 1
        if len(batch) == BATCH:
            flush()
    if batch:
        flush()
    return count


class Command(BaseCommand):
    help = (
        "Seed one tenant with demo data that shows the method's patterns (partners, "
        "domains, reps, materials, views, deals). Deterministic for a seed. Does nothing "
        "if the tenant already has partners, reps, materials, views or deals."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug (create_tenant first)")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--partners", type=int, default=12)
        parser.add_argument("--reps", type=int, default=1500)
        parser.add_argument("--days", type=int, default=180, help="history length in days")
        parser.add_argument("--views", type=int, default=60_000)
        parser.add_argument(
            "--deals", type=int, default=None, help="default: four per rep (≈ 6,000)"
        )

    def handle(self, *args, tenant: str, seed: int, **options):
        tenant_obj = tenant_from_slug(tenant)
        n_partners, n_reps = options["partners"], options["reps"]
        n_views, days = options["views"], options["days"]
        n_deals = options["deals"] if options["deals"] is not None else 4 * n_reps
        if n_partners < 1 or n_reps < 3 * n_partners:
            raise CommandError("Need at least one partner and three reps per partner.")
        if n_views < 0 or n_deals < 0 or days < demo.MIN_DAYS:
            raise CommandError(f"--views and --deals must be ≥ 0 and --days ≥ {demo.MIN_DAYS}.")
        with tenant_scope(tenant_obj):
            existing = {
                "partners": Partner.objects.count(),
                "reps": Rep.objects.count(),
                "materials": Material.objects.count(),
                "views": MaterialView.objects.count(),
                "deals": Deal.objects.count(),
            }
            if any(existing.values()):
                summary = ", ".join(f"{v:,} {k}" for k, v in existing.items())
                self.stdout.write(
                    f"Tenant '{tenant}' already has data ({summary}); seed_demo changed nothing."
                )
                return
            started = time.perf_counter()
            with transaction.atomic():
                counts = self._seed(
                    tenant_obj,
                    rng=random.Random(seed),
                    n_partners=n_partners,
                    n_reps=n_reps,
                    n_views=n_views,
                    n_deals=n_deals,
                    days=days,
                    quiet=options["verbosity"] == 0,
                )
            # The views into their roll-ups now, not at the next beat: the segments are
            # computed next (the Makefile's demo-data), and read them (PostgreSQL only).
            view_rollups_fold(tenant=tenant_obj)
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    for model in (Rep, MaterialView, RepViewDay, RepMaterialSpan, Deal):
                        cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        seconds = time.perf_counter() - started
        self._summary(tenant, seed, counts, seconds)

    # --- generation ---------------------------------------------------------------------

    def _seed(
        self,
        tenant: Tenant,
        *,
        rng: random.Random,
        n_partners: int,
        n_reps: int,
        n_views: int,
        n_deals: int,
        days: int,
        quiet: bool,
    ) -> dict:
        tz = tenant.tzinfo
        now = timezone.now()
        today = timezone.localtime(now, tz).date()
        total = n_partners * 2 + n_reps + n_views + n_deals
        bar = tqdm(
            total=total, desc="seed_demo", unit="row", file=sys.stderr, disable=quiet, leave=False
        )
        plans = demo.partner_plans(rng, n_partners, n_reps)
        partners, partner_pk, domains = self._partners(tenant, rng, plans, today, n_reps)
        bar.update(2 * n_partners)
        world = demo.World(
            tenant_id=tenant.pk,
            rep_ids=[],
            kinds=[],
            rep_partner=[],
            has_performer={pk: p.has_performer for pk, p in zip(partner_pk, plans, strict=True)},
            sf_user=[],
            partner_external={
                pk: p.external_id for pk, p in zip(partner_pk, partners, strict=True)
            },
            early=[],
            late=[],
            now=now,
            today=today,
            # Midnight at the start of today, local time: every date is relative to it.
            anchor=dt.datetime.combine(today, dt.time(), tzinfo=tz),
            days=days,
        )
        employed = self._reps(tenant, rng, plans, partner_pk, domains, world, bar)
        self._materials(tenant, world)
        demo.choose_starts(rng, world)
        view_columns = [
            "tenant_id", "rep_id", "material_id", "viewed_at", "duration_seconds", "source",
            "event_id",
        ]  # fmt: skip
        views = _insert(
            MaterialView, view_columns, demo.view_rows(rng, world, n_views), now=now, bar=bar
        )
        deal_columns = [
            "tenant_id", "sf_id", "name", "partner_id", "rep_id", "amount", "currency",
            "stage", "is_closed", "is_won", "close_date", "sf_created_at",
            "sf_last_modified_at", "system_modstamp", "raw_partner_key", "raw_rep_key",
        ]  # fmt: skip
        deals = _insert(Deal, deal_columns, demo.deal_rows(rng, world, n_deals), now=now, bar=bar)
        # The rows are inserted raw: their corporate amounts as the sync would set them.
        deal_amounts_convert(tenant=tenant)
        totals = self._partner_totals(tenant, rng, today, partner_pk, partners)
        bar.close()
        return {
            "partners": n_partners,
            "reps": len(world.rep_ids),
            "archetypes": Counter(demo.ARCHETYPE_NAMES[k] for k in world.kinds),
            "materials": len(world.early) + len(world.late),
            "views": views,
            "deals": deals,
            "partner_totals": totals,
            "stages": world.stages,
            "bursts": len(world.burst_reps),
            "newcomers": sum(world.newcomer),
            "without_performer": sum(not p.has_performer for p in plans),
            "active_reps": sum(1 for r in world.active if employed[r]),
            "employed": sum(employed),
            "activation": demo.activation_by_partner(world, employed),
        }

    def _partners(self, tenant, rng, plans, today, n_reps):
        """The partners and their email domains; returns the partners, their pks and domains."""
        n_partners = len(plans)
        heads = rng.sample(demo.COMPANY_HEADS, len(demo.COMPANY_HEADS))
        partners: list[Partner] = []
        domains: list[str] = []
        for i, plan in enumerate(plans):
            size = plan.size
            head_ja, head_en = heads[i % len(heads)]
            tail = (i * 7 + rng.randrange(3)) % len(demo.COMPANY_TAILS)
            tail_ja, tail_en = demo.COMPANY_TAILS[tail]
            suffix = f"{i // len(heads) + 1}" if i >= len(heads) else ""
            tier = (
                Partner.Tier.PLATINUM
                if i == 0
                else Partner.Tier.GOLD
                if i < 3
                else Partner.Tier.SILVER
                if i < n_partners // 2
                else Partner.Tier.REGISTERED
            )
            kind = (
                Partner.Type.SI
                if size > n_reps * 0.15
                else rng.choice([Partner.Type.RESELLER, Partner.Type.RESELLER, Partner.Type.AGENCY])
            )
            partners.append(
                Partner(
                    tenant=tenant,
                    name=f"株式会社{head_ja}{tail_ja}{suffix}",
                    external_id=demo.sf_id("001", 1000 + i),
                    partner_type=kind,
                    program_tier=tier,
                    competing_products=max(1, round(rng.gauss(4, 1.2))),
                    status=Partner.Status.ONBOARDING
                    if i == n_partners - 1 and n_partners > 2
                    else Partner.Status.ACTIVE,
                    contract_start=today - dt.timedelta(days=rng.randrange(120, 2000)),
                    notes=f"規模: {size:,} 名の営業担当者",
                )
            )
            domains.append(f"{head_en}-{tail_en}{suffix}.co.jp")
        Partner.objects.bulk_create(partners)
        ids = dict(Partner.objects.filter(tenant_id=tenant.pk).values_list("external_id", "id"))
        partner_pk = [ids[p.external_id] for p in partners]
        PartnerDomain.objects.bulk_create(
            PartnerDomain(tenant=tenant, partner_id=pk, domain=d)
            for pk, d in zip(partner_pk, domains, strict=True)
        )
        return partners, partner_pk, domains

    def _reps(self, tenant, rng, plans, partner_pk, domains, world, bar) -> list[bool]:
        """Reps with Japanese names, emails on the partner's domain and an archetype each;
        a few dormant ones have left. Fills the world's reps; returns who is employed."""
        rep_rows: list[Rep] = []
        today = world.today
        for i, plan in enumerate(plans):
            leavers = plan.leavers
            for kind in plan.kinds:
                n = len(rep_rows)
                sur_ja, sur_en = rng.choice(demo.SURNAMES)
                given_ja, given_en = rng.choice(demo.GIVEN_NAMES)
                left = kind == demo.DORMANT and leavers > 0
                leavers -= left
                rep_rows.append(
                    Rep(
                        tenant=tenant,
                        partner_id=partner_pk[i],
                        name=f"{sur_ja} {given_ja}",
                        email=f"{given_en}.{sur_en}.{n:06d}@{domains[i]}",
                        external_id=f"cp-{n:07d}",
                        salesforce_user_id=demo.sf_id("005", 10_000 + n),
                        title=rng.choice(demo.TITLES),
                        hire_type=rng.choice(Rep.HireType.values),
                        started_at_partner=today - dt.timedelta(days=rng.randrange(30, 6000)),
                        influence=Rep.Influence.HIGH
                        if kind == demo.PERFORMER
                        else rng.choice(Rep.Influence.values),
                        is_employed=not left,
                    )
                )
                world.kinds.append(kind)
                world.rep_partner.append(partner_pk[i])
        for start in range(0, len(rep_rows), BATCH):
            Rep.objects.bulk_create(rep_rows[start : start + BATCH])
            bar.update(min(BATCH, len(rep_rows) - start))
        by_external = dict(Rep.objects.filter(tenant_id=tenant.pk).values_list("external_id", "id"))
        world.rep_ids = [by_external[r.external_id] for r in rep_rows]
        world.sf_user = [r.salesforce_user_id for r in rep_rows]
        return [r.is_employed for r in rep_rows]

    def _materials(self, tenant, world) -> None:
        """Twelve materials per product; the world gets their pks, late-stage apart."""
        materials = []
        for p_index, product in enumerate(demo.PRODUCTS):
            for m_index, (title, kind) in enumerate(demo.MATERIALS):
                number = p_index * len(demo.MATERIALS) + m_index + 1
                materials.append(
                    Material(
                        tenant=tenant,
                        title=title.format(p=product),
                        kind=kind,
                        product=product,
                        external_id=f"mat-{number:04d}",
                        url=f"https://content.example.com/m/{number:04d}",
                    )
                )
        Material.objects.bulk_create(materials)
        rows = Material.objects.filter(tenant_id=tenant.pk).order_by("pk")
        for pk, kind in rows.values_list("id", "kind"):
            (world.late if kind in Material.LATE_STAGE_KINDS else world.early).append(pk)

    def _partner_totals(self, tenant, rng, today, partner_pk, partners) -> int:
        """The partners' totals of the last two complete quarters (share of wallet)."""
        start, _end = period_of(today, QUARTER)
        periods = [period_shift(start, QUARTER, back) for back in (-2, -1)]
        won = {
            (pk, quarter): amount
            for pk, quarter, amount in Deal.objects.filter(
                tenant_id=tenant.pk,
                is_won=True,
                is_deleted=False,
                close_date__gte=periods[0][0],
                close_date__lte=periods[-1][1],
            )
            .annotate(quarter=TruncQuarter("close_date"))
            .values_list("partner_id", "quarter")
            .annotate(amount=Sum("amount_corporate"))
            .order_by()
        }
        rows = demo.partner_total_rows(
            rng,
            partners=[
                (pk, p.competing_products) for pk, p in zip(partner_pk, partners, strict=True)
            ],
            won=won,
            periods=periods,
        )
        PartnerTotal.objects.bulk_create(PartnerTotal(tenant=tenant, **row) for row in rows)
        return len(rows)

    def _summary(self, tenant: str, seed: int, counts: dict, seconds: float) -> None:
        stages = counts["stages"]
        kinds = counts["archetypes"]
        rates = sorted(counts["activation"].values()) or [0.0]
        lines = [
            f"Seeded tenant '{tenant}' (seed {seed}) in {seconds:.1f} s:",
            f"  partners   {counts['partners']:>10,}  (each with an email domain; "
            f"{counts['without_performer']} without a performer yet)",
            f"  reps       {counts['reps']:>10,}  "
            + ", ".join(f"{kinds[n]:,} {n}" for n in demo.ARCHETYPE_NAMES),
            f"             {counts['active_reps']:>10,}  of {counts['employed']:,} employed "
            f"active ({counts['active_reps'] / max(1, counts['employed']):.0%}; per partner "
            f"{rates[0]:.0%}–{rates[-1]:.0%}): a view or a new deal in the last "
            f"{demo.VIEW_WINDOW} days, or a win in the last {demo.RESULTS_WINDOW}",
            f"  materials  {counts['materials']:>10,}",
            f"  views      {counts['views']:>10,}  ({counts['bursts']} reps with a burst in "
            f"the last hours, {counts['newcomers']} first-time readers)",
            f"  deals      {counts['deals']:>10,}  "
            + ", ".join(f"{s} {stages[s]:,}" for s in (*demo.OPEN_STAGES, demo.WON, demo.LOST)),
            f"  totals     {counts['partner_totals']:>10,}  partner totals of the last two "
            "quarters (share of wallet; the last partner reports none)",
        ]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
