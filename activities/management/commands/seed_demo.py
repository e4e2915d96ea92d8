"""``manage.py seed_demo --tenant S``: a tenant's demo (and benchmark) data, deterministic.

The default data tells the method's story (see /docs and DOMAIN.md):

* partners of very different sizes (a long tail: one large SI, many small resellers),
  each carrying about four competing products;
* most reps inactive: only about one rep in seven opens any material in a quarter (the
  1% resource problem), and inside each partner activity is steeply unequal (2:6:2);
* views correlate with wins: reps who read more win more;
* a group of motivated reps (keyman ②) with many recent views and no win yet;
* a few performers (keyman ①) with many views and many wins, and some partners with
  none yet;
* a few independents who win without reading any material;
* deals in every stage, Salesforce-style 18-character ids, partners' Account Ids.

Same seed, same data (names, counts, stages; dates are relative to today's date in the
tenant's time zone). Rows are written with bulk inserts, and on PostgreSQL views and
deals with COPY, so ``--reps 50000 --views 2000000`` (200,000 deals) takes minutes.
"""

from __future__ import annotations

import datetime as dt
import decimal
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.utils import timezone
from tqdm import tqdm

from activities.models import Deal, Material, MaterialView, RepMaterialSpan, RepViewDay
from partners.models import Partner, PartnerDomain
from pse_crm.management.tenants import tenant_from_slug
from pse_crm.models import Tenant
from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope
from reps.models import Rep

# --- vocabulary -------------------------------------------------------------------------

_COMPANY_HEADS = [
    ("日本", "nihon"), ("東京", "tokyo"), ("大和", "yamato"), ("未来", "mirai"),
    ("さくら", "sakura"), ("アオバ", "aoba"), ("ひかり", "hikari"), ("北斗", "hokuto"),
    ("富士", "fuji"), ("みなと", "minato"), ("瑞穂", "mizuho"), ("新星", "shinsei"),
    ("関西", "kansai"), ("九州", "kyushu"), ("中央", "chuo"), ("青空", "aozora"),
]  # fmt: skip
_COMPANY_TAILS = [
    ("システム", "system"), ("ソリューションズ", "solutions"), ("テクノロジー", "tech"),
    ("商事", "shoji"), ("情報サービス", "joho"), ("ネットワークス", "networks"),
    ("デジタル", "digital"), ("ビジネスパートナーズ", "bp"), ("データ", "data"),
    ("クラウド", "cloud"),
]  # fmt: skip
_SURNAMES = [
    ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
    ("伊藤", "ito"), ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"),
    ("小林", "kobayashi"), ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada"),
    ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
    ("木村", "kimura"), ("林", "hayashi"), ("清水", "shimizu"), ("森", "mori"),
]  # fmt: skip
_GIVEN_NAMES = [
    ("太郎", "taro"), ("花子", "hanako"), ("翔太", "shota"), ("陽菜", "hina"),
    ("大輔", "daisuke"), ("美咲", "misaki"), ("健太", "kenta"), ("由美", "yumi"),
    ("拓也", "takuya"), ("彩", "aya"), ("直樹", "naoki"), ("恵", "megumi"),
    ("誠", "makoto"), ("愛", "ai"), ("亮", "ryo"), ("真由美", "mayumi"),
]  # fmt: skip
_TITLES = [
    "営業部 担当",
    "営業部 主任",
    "営業部 係長",
    "営業部 課長",
    "ソリューション営業",
    "アカウントマネージャー",
]
_CUSTOMERS = ["製造", "物流", "小売", "建設", "医療", "金融", "食品", "不動産", "教育", "自治体"]
_CITIES = ["札幌", "仙台", "東京", "横浜", "名古屋", "大阪", "京都", "神戸", "広島", "福岡"]
_PRODUCTS = ["PSE Cloud", "PSE Analytics", "PSE Connect"]
_MATERIALS: list[tuple[str, str]] = [
    ("製品概要資料 {p}", Material.Kind.DECK),
    ("{p} 提案書テンプレート", Material.Kind.DECK),
    ("{p} 競合比較資料", Material.Kind.DECK),
    ("導入事例: 製造業 ({p})", Material.Kind.CASE_STUDY),
    ("導入事例: 小売業 ({p})", Material.Kind.CASE_STUDY),
    ("{p} 価格表 2026", Material.Kind.PRICE_SHEET),
    ("{p} 見積テンプレート", Material.Kind.QUOTE_TEMPLATE),
    ("{p} ご契約書ひな形", Material.Kind.CONTRACT),
    ("{p} デモ動画", Material.Kind.VIDEO),
    ("{p} ホワイトペーパー", Material.Kind.WHITEPAPER),
    ("{p} 営業トレーニング", Material.Kind.TRAINING),
    ("{p} FAQ", Material.Kind.OTHER),
]

OPEN_STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation")
WON, LOST = "Closed Won", "Closed Lost"

# Rep archetypes: share of a partner's reps, weight of their views, recent share of their
# views, share of late-stage materials, weight of their deals, chance a deal is won/lost.
PERFORMER, MOTIVATED, INDEPENDENT, CASUAL, DORMANT = range(5)
_ARCHETYPE_NAMES = ["performer", "motivated", "independent", "casual", "dormant"]
_VIEW_WEIGHT = [40.0, 35.0, 0.02, 5.0, 0.05]
_RECENT_SHARE = [0.6, 0.9, 0.0, 0.45, 0.05]
_LATE_SHARE = [0.3, 0.12, 0.0, 0.08, 0.03]
_DEAL_WEIGHT = [22.0, 3.0, 16.0, 4.5, 3.3]
RECENT_DAYS = 90
BATCH = 5_000


def _partner_sizes(rng: random.Random, partners: int, reps: int) -> list[int]:
    """A long tail: partner i gets a share ∝ 1/(i+1)^1.4, at least 3 reps each."""
    weights = [1.0 / (i + 1) ** 1.4 * rng.uniform(0.8, 1.2) for i in range(partners)]
    total = sum(weights)
    sizes = [max(3, int(reps * w / total)) for w in weights]
    diff = reps - sum(sizes)
    sizes[0] = max(3, sizes[0] + diff)
    return sizes


def _archetypes(rng: random.Random, size: int, partner_index: int) -> list[int]:
    """Inside one partner: a few performers (none at every fourth partner: keyman ① is
    still to be made there), a motivated group, a few independents, a casual middle and a
    dormant majority."""
    performers = 0 if partner_index % 4 == 3 else max(1 if size >= 20 else 0, round(size * 0.02))
    motivated = max(1, round(size * 0.05))
    independents = round(size * 0.012)
    casual = round(size * 0.07)
    kinds = [PERFORMER] * performers + [MOTIVATED] * motivated + [INDEPENDENT] * independents
    kinds += [CASUAL] * casual
    kinds = kinds[:size]
    kinds += [DORMANT] * (size - len(kinds))
    rng.shuffle(kinds)
    return kinds


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _sf_id(prefix: str, n: int) -> str:
    """An 18-character Salesforce id: key prefix + pod-like '5g' + base-62 counter."""
    digits = ""
    for _ in range(10):
        n, r = divmod(n, 62)
        digits = _B62[r] + digits
    return to_18(prefix + "5g" + digits)


def _extra_columns(model: type[models.Model], columns: Sequence[str], now: dt.datetime):
    """Every other concrete column with its model default, so COPY stays correct when a
    field with a default is added to the model later."""
    names, values = [], []
    for f in model._meta.concrete_fields:
        if f.primary_key or f.column in columns:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            value = now
        else:
            value = f.get_default()
        names.append(f.column)
        values.append(f.get_db_prep_save(value, connection))
    return names, values


def _insert(
    model: type[models.Model],
    columns: Sequence[str],
    rows: Iterable[tuple],
    *,
    now: dt.datetime,
    bar: tqdm,
) -> int:
    """Insert ``rows`` (values for ``columns``, which include tenant_id): COPY on
    PostgreSQL, bulk_create in batches elsewhere."""
    count = 0
    if connection.vendor == "postgresql":
        from pse_crm import rls

        extra_names, extra_values = _extra_columns(model, columns, now)
        extra = tuple(extra_values)
        cols = ", ".join(connection.ops.quote_name(c) for c in (*columns, *extra_names))
        table = connection.ops.quote_name(model._meta.db_table)
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
    by_column = {f.column: f.attname for f in model._meta.concrete_fields}
    attnames = [by_column[c] for c in columns]
    batch: list[models.Model] = []
    for row in rows:
        batch.append(model(**dict(zip(attnames, row, strict=True))))
        if len(batch) == BATCH:
            model.objects.bulk_create(batch)
            count += len(batch)
            bar.update(len(batch))
            batch = []
    if batch:
        model.objects.bulk_create(batch)
        count += len(batch)
        bar.update(len(batch))
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
        if n_views < 0 or n_deals < 0 or days < RECENT_DAYS:
            raise CommandError(f"--views and --deals must be ≥ 0 and --days ≥ {RECENT_DAYS}.")
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
        # Midnight at the start of today, local time: every date is relative to it.
        anchor = dt.datetime.combine(today, dt.time(), tzinfo=tz)
        total = n_partners * 2 + n_reps + n_views + n_deals
        bar = tqdm(
            total=total, desc="seed_demo", unit="row", file=sys.stderr, disable=quiet, leave=False
        )
        counts: dict = {}

        # Partners and their email domains.
        sizes = _partner_sizes(rng, n_partners, n_reps)
        heads = rng.sample(_COMPANY_HEADS, len(_COMPANY_HEADS))
        partners: list[Partner] = []
        domains: list[str] = []
        for i, size in enumerate(sizes):
            head_ja, head_en = heads[i % len(heads)]
            tail_ja, tail_en = _COMPANY_TAILS[(i * 7 + rng.randrange(3)) % len(_COMPANY_TAILS)]
            suffix = f"{i // len(heads) + 1}" if i >= len(heads) else ""
            name = f"株式会社{head_ja}{tail_ja}{suffix}"
            domain = f"{head_en}-{tail_en}{suffix}.co.jp"
            tier = (
                Partner.Tier.PLATINUM
                if i == 0
                else Partner.Tier.GOLD
                if i < 3
                else Partner.Tier.SILVER
                if i < n_partners // 2
                else Partner.Tier.REGISTERED
            )
            partners.append(
                Partner(
                    tenant=tenant,
                    name=name,
                    external_id=_sf_id("001", 1000 + i),
                    partner_type=Partner.Type.SI
                    if size > n_reps * 0.15
                    else rng.choice(
                        [Partner.Type.RESELLER, Partner.Type.RESELLER, Partner.Type.AGENCY]
                    ),
                    program_tier=tier,
                    competing_products=max(1, round(rng.gauss(4, 1.2))),
                    status=Partner.Status.ONBOARDING
                    if i == n_partners - 1 and n_partners > 2
                    else Partner.Status.ACTIVE,
                    contract_start=today - dt.timedelta(days=rng.randrange(120, 2000)),
                    notes=f"規模: {size:,} 名の営業担当者",
                )
            )
            domains.append(domain)
        Partner.objects.bulk_create(partners)
        partner_ids = dict(
            Partner.objects.filter(tenant_id=tenant.pk).values_list("external_id", "id")
        )
        partner_pk = [partner_ids[p.external_id] for p in partners]
        PartnerDomain.objects.bulk_create(
            PartnerDomain(tenant=tenant, partner_id=pk, domain=d)
            for pk, d in zip(partner_pk, domains, strict=True)
        )
        bar.update(2 * n_partners)
        counts["partners"] = n_partners

        # Reps: Japanese names, emails on the partner's domain, an archetype each.
        rep_rows: list[Rep] = []
        archetypes: list[int] = []
        rep_partner: list[int] = []
        for i, size in enumerate(sizes):
            for kind in _archetypes(rng, size, i):
                n = len(rep_rows)
                sur_ja, sur_en = rng.choice(_SURNAMES)
                given_ja, given_en = rng.choice(_GIVEN_NAMES)
                rep_rows.append(
                    Rep(
                        tenant=tenant,
                        partner_id=partner_pk[i],
                        name=f"{sur_ja} {given_ja}",
                        email=f"{given_en}.{sur_en}.{n:06d}@{domains[i]}",
                        external_id=f"cp-{n:07d}",
                        salesforce_user_id=_sf_id("005", 10_000 + n),
                        title=rng.choice(_TITLES),
                        hire_type=rng.choice(Rep.HireType.values),
                        started_at_partner=today - dt.timedelta(days=rng.randrange(30, 6000)),
                        influence=Rep.Influence.HIGH
                        if kind == PERFORMER
                        else rng.choice(Rep.Influence.values),
                        is_employed=kind != DORMANT or rng.random() > 0.04,
                    )
                )
                archetypes.append(kind)
                rep_partner.append(partner_pk[i])
        for start in range(0, len(rep_rows), BATCH):
            Rep.objects.bulk_create(rep_rows[start : start + BATCH])
            bar.update(min(BATCH, len(rep_rows) - start))
        by_external = dict(Rep.objects.filter(tenant_id=tenant.pk).values_list("external_id", "id"))
        rep_ids = [by_external[r.external_id] for r in rep_rows]
        sf_user = [r.salesforce_user_id for r in rep_rows]
        counts["reps"] = len(rep_ids)
        counts["archetypes"] = Counter(_ARCHETYPE_NAMES[k] for k in archetypes)

        # Materials.
        materials = []
        for p_index, product in enumerate(_PRODUCTS):
            for m_index, (title, kind) in enumerate(_MATERIALS):
                number = p_index * len(_MATERIALS) + m_index + 1
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
        mat = dict(Material.objects.filter(tenant_id=tenant.pk).values_list("external_id", "kind"))
        mat_ids = dict(
            Material.objects.filter(tenant_id=tenant.pk).values_list("external_id", "id")
        )
        late = [mat_ids[e] for e, k in mat.items() if k in Material.LATE_STAGE_KINDS]
        early = [mat_ids[e] for e, k in mat.items() if k not in Material.LATE_STAGE_KINDS]
        late.sort()
        early.sort()
        counts["materials"] = len(materials)

        # Views: who reads is weighted by archetype; recent reading by motivated reps and
        # performers, old reading by the dormant majority.
        weights = [_VIEW_WEIGHT[k] * rng.uniform(0.5, 1.5) for k in archetypes]
        view_reps = rng.choices(range(len(rep_ids)), weights=weights, k=n_views)
        views_per_rep = Counter(view_reps)
        recent_seconds = RECENT_DAYS * 86400
        old_seconds = (days - RECENT_DAYS) * 86400
        recent_readers: set[int] = set()

        def view_rows():
            random_ = rng.random
            for n, r in enumerate(view_reps):
                kind = archetypes[r]
                if random_() < _RECENT_SHARE[kind] or not old_seconds:
                    back = 1 + int(random_() * (recent_seconds - 1))
                    recent_readers.add(r)
                else:
                    back = recent_seconds + int(random_() * old_seconds)
                pool = late if random_() < _LATE_SHARE[kind] else early
                yield (
                    tenant.pk,
                    rep_ids[r],
                    pool[int(random_() * len(pool))],
                    anchor - dt.timedelta(seconds=back),
                    int(rng.expovariate(1 / 150)),
                    "seed_demo",
                    f"seed-{n:09d}",
                )

        counts["views"] = _insert(
            MaterialView,
            [
                "tenant_id",
                "rep_id",
                "material_id",
                "viewed_at",
                "duration_seconds",
                "source",
                "event_id",
            ],
            view_rows(),
            now=now,
            bar=bar,
        )

        # Deals: performers and independents win, motivated reps have only open or lost
        # deals, casual reps win more the more they read, dormant reps rarely win.
        max_casual = max([views_per_rep[r] for r, k in enumerate(archetypes) if k == CASUAL] or [1])
        deal_weights = [_DEAL_WEIGHT[k] * rng.uniform(0.6, 1.4) for k in archetypes]
        deal_reps = rng.choices(range(len(rep_ids)), weights=deal_weights, k=n_deals)
        stage_counts: Counter = Counter()

        def deal_rows():
            for n, r in enumerate(deal_reps):
                kind = archetypes[r]
                if kind in (PERFORMER, INDEPENDENT):
                    p_won, p_lost = 0.55, 0.15
                elif kind == MOTIVATED:
                    p_won, p_lost = 0.0, 0.2
                elif kind == CASUAL:
                    p_won, p_lost = 0.06 + 0.4 * views_per_rep[r] / max_casual, 0.3
                else:
                    p_won, p_lost = 0.04, 0.5
                roll = rng.random()
                if roll < p_won:
                    stage = WON
                elif roll < p_won + p_lost:
                    stage = LOST
                else:
                    stage = OPEN_STAGES[
                        min(3, int(rng.random() ** (1.6 if kind == MOTIVATED else 1) * 4))
                    ]
                stage_counts[stage] += 1
                closed = stage in (WON, LOST)
                if closed:
                    recent_win = stage == WON and kind in (PERFORMER, INDEPENDENT)
                    close_back = rng.randrange(0, RECENT_DAYS if recent_win else days)
                    if kind == DORMANT and stage == WON:
                        close_back = rng.randrange(min(RECENT_DAYS, days - 1), days)
                    close_date = today - dt.timedelta(days=close_back)
                    created = anchor - dt.timedelta(days=close_back + rng.randrange(14, 120))
                    modstamp = (
                        anchor
                        - dt.timedelta(days=close_back)
                        + dt.timedelta(hours=rng.randrange(9, 19))
                    )
                else:
                    close_date = today + dt.timedelta(days=rng.randrange(7, 150))
                    created = anchor - dt.timedelta(days=rng.randrange(1, 150))
                    modstamp = anchor - dt.timedelta(hours=rng.randrange(1, 24 * 20))
                modstamp = min(max(modstamp, created), now)  # never in the future
                amount = decimal.Decimal(int(rng.lognormvariate(15.0, 0.9)) // 1000 * 1000)
                customer = f"{rng.choice(_CITIES)}{rng.choice(_CUSTOMERS)}株式会社"
                yield (
                    tenant.pk,
                    _sf_id("006", 100_000 + n),
                    f"{customer} {rng.choice(_PRODUCTS)} 導入",
                    rep_partner[r],
                    rep_ids[r],
                    amount,
                    "JPY",
                    stage,
                    closed,
                    stage == WON,
                    close_date,
                    created,
                    modstamp,
                    modstamp,
                    partner_external[rep_partner[r]],
                    sf_user[r],
                )

        partner_external = {pk: p.external_id for pk, p in zip(partner_pk, partners, strict=True)}
        counts["deals"] = _insert(
            Deal,
            [
                "tenant_id", "sf_id", "name", "partner_id", "rep_id", "amount", "currency",
                "stage", "is_closed", "is_won", "close_date", "sf_created_at",
                "sf_last_modified_at", "system_modstamp", "raw_partner_key", "raw_rep_key",
            ],
            deal_rows(),
            now=now,
            bar=bar,
        )  # fmt: skip
        bar.close()
        counts["stages"] = stage_counts
        counts["active_reps"] = len(recent_readers)
        return counts

    def _summary(self, tenant: str, seed: int, counts: dict, seconds: float) -> None:
        stages = counts["stages"]
        kinds = counts["archetypes"]
        lines = [
            f"Seeded tenant '{tenant}' (seed {seed}) in {seconds:.1f} s:",
            f"  partners   {counts['partners']:>10,}  (each with an email domain)",
            f"  reps       {counts['reps']:>10,}  "
            + ", ".join(f"{kinds[n]:,} {n}" for n in _ARCHETYPE_NAMES),
            f"             {counts['active_reps']:>10,}  read a material in the last "
            f"{RECENT_DAYS} days ({counts['active_reps'] / max(1, counts['reps']):.0%})",
            f"  materials  {counts['materials']:>10,}",
            f"  views      {counts['views']:>10,}",
            f"  deals      {counts['deals']:>10,}  "
            + ", ".join(f"{s} {stages[s]:,}" for s in (*OPEN_STAGES, WON, LOST)),
        ]
        self.stdout.write(self.style.SUCCESS("\n".join(lines)))
