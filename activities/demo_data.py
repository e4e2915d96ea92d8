"""The shape of ``seed_demo``'s data: who the reps are and when they read and sell.

The command (activities/management/commands/seed_demo.py) writes the rows; this module
decides them, from one ``random.Random`` so that a seed gives the same data.

Activity follows the method's definition: a rep is *active* with a material view in the
view window (``VIEW_WINDOW`` days), a deal won in the results window (``RESULTS_WINDOW``
days) or a deal created in the view window; an old open deal alone is not activity. Every
rep of an active archetype is made active (one recent view or one recent win is reserved
for each, while the budget lasts) and no dormant rep is: dormant reps read and sell only
before the windows (with ``MARGIN`` days to spare, so a run later today reads the same).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from activities.models import Material
from pse_crm.sfid import to_18

# --- vocabulary -------------------------------------------------------------------------

COMPANY_HEADS = [
    ("日本", "nihon"), ("東京", "tokyo"), ("大和", "yamato"), ("未来", "mirai"),
    ("さくら", "sakura"), ("アオバ", "aoba"), ("ひかり", "hikari"), ("北斗", "hokuto"),
    ("富士", "fuji"), ("みなと", "minato"), ("瑞穂", "mizuho"), ("新星", "shinsei"),
    ("関西", "kansai"), ("九州", "kyushu"), ("中央", "chuo"), ("青空", "aozora"),
]  # fmt: skip
COMPANY_TAILS = [
    ("システム", "system"), ("ソリューションズ", "solutions"), ("テクノロジー", "tech"),
    ("商事", "shoji"), ("情報サービス", "joho"), ("ネットワークス", "networks"),
    ("デジタル", "digital"), ("ビジネスパートナーズ", "bp"), ("データ", "data"),
    ("クラウド", "cloud"),
]  # fmt: skip
SURNAMES = [
    ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
    ("伊藤", "ito"), ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"),
    ("小林", "kobayashi"), ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada"),
    ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
    ("木村", "kimura"), ("林", "hayashi"), ("清水", "shimizu"), ("森", "mori"),
]  # fmt: skip
GIVEN_NAMES = [
    ("太郎", "taro"), ("花子", "hanako"), ("翔太", "shota"), ("陽菜", "hina"),
    ("大輔", "daisuke"), ("美咲", "misaki"), ("健太", "kenta"), ("由美", "yumi"),
    ("拓也", "takuya"), ("彩", "aya"), ("直樹", "naoki"), ("恵", "megumi"),
    ("誠", "makoto"), ("愛", "ai"), ("亮", "ryo"), ("真由美", "mayumi"),
]  # fmt: skip
TITLES = [
    "営業部 担当",
    "営業部 主任",
    "営業部 係長",
    "営業部 課長",
    "ソリューション営業",
    "アカウントマネージャー",
]
CUSTOMERS = ["製造", "物流", "小売", "建設", "医療", "金融", "食品", "不動産", "教育", "自治体"]
CITIES = ["札幌", "仙台", "東京", "横浜", "名古屋", "大阪", "京都", "神戸", "広島", "福岡"]
PRODUCTS = ["PSE Cloud", "PSE Analytics", "PSE Connect"]
MATERIALS: list[tuple[str, str]] = [
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

# --- the method's windows ---------------------------------------------------------------

VIEW_WINDOW = 90  # days: a view or a new deal in it makes a rep active
RESULTS_WINDOW = 180  # days: a win in it makes a rep active
OLD_WIN_DAYS = 365  # dormant reps' wins are older: inactive under a one-year window too
MARGIN = 3  # days kept clear on each side of a window's edge
MIN_DAYS = VIEW_WINDOW + 30  # shortest history: room for views before the view window
NEWCOMER_DAYS = 10  # a newcomer's first view ever is this recent (a "first view" signal)
NEWCOMER_SHARE = 0.12  # of the casual reps
ACTIVATION_MIN, ACTIVATION_MAX = 0.10, 0.35  # every partner's activation rate stays inside
TARGET_LOW, TARGET_HIGH = 0.12, 0.32  # the partners' targets spread over this range

# --- archetypes -------------------------------------------------------------------------

PERFORMER, MOTIVATED, INDEPENDENT, CASUAL, DORMANT = range(5)
ARCHETYPE_NAMES = ["performer", "motivated", "independent", "casual", "dormant"]
READERS = (PERFORMER, MOTIVATED, CASUAL)  # active through recent views
WINNERS = (PERFORMER, INDEPENDENT)  # active through recent wins
# Per archetype: weight of their views, share of their views in the view window, share of
# late-stage materials, weight of their deals.
VIEW_WEIGHT = [40.0, 35.0, 0.05, 1.5, 0.0]
RECENT_SHARE = [0.6, 1.0, 0.0, 1.0, 0.0]
LATE_SHARE = [0.3, 0.12, 0.0, 0.08, 0.03]
DEAL_WEIGHT = [22.0, 3.0, 16.0, 4.5, 0.0]
LAPSED_SHARE, LAPSED_VIEW_WEIGHT = 0.15, 0.15  # dormant reps who read before the window
OLD_SELLER_SHARE, OLD_SELLER_DEAL_WEIGHT = 0.3, 3.0  # dormant reps with (old) deals
LEAVER_SHARE = 0.04  # dormant reps who left the partner
BURST_VIEWS = (5, 8)  # views in one burst, within an hour before now


def sf_id(prefix: str, n: int) -> str:
    """An 18-character Salesforce id: key prefix + pod-like '5g' + base-62 counter."""
    b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    digits = ""
    for _ in range(10):
        n, r = divmod(n, 62)
        digits = b62[r] + digits
    return to_18(prefix + "5g" + digits)


# --- partners ---------------------------------------------------------------------------


@dataclass
class PartnerPlan:
    size: int
    activation: float  # the target share of active reps
    has_performer: bool
    kinds: list[int] = field(default_factory=list)  # one archetype per rep, shuffled
    leavers: int = 0  # dormant reps to mark not employed


def partner_sizes(rng: random.Random, partners: int, reps: int) -> list[int]:
    """A long tail: partner i gets a share ∝ 1/(i+1)^1.4, at least 3 reps each."""
    weights = [1.0 / (i + 1) ** 1.4 * rng.uniform(0.8, 1.2) for i in range(partners)]
    total = sum(weights)
    sizes = [max(3, int(reps * w / total)) for w in weights]
    diff = reps - sum(sizes)
    sizes[0] = max(3, sizes[0] + diff)
    return sizes


def without_performer_count(partners: int) -> int:
    """How many partners have no keyman ① yet: two or three in a demo-sized tenant."""
    if partners == 1:
        return 0
    if partners <= 3:
        return 1
    if partners < 10:
        return 2
    return 3 if partners <= 16 else partners // 5


def partner_plans(rng: random.Random, partners: int, reps: int) -> list[PartnerPlan]:
    """Sizes, activation targets (spread from ``TARGET_LOW`` to ``TARGET_HIGH`` in a
    shuffled order), the partners without a performer (never the largest) and each
    partner's archetypes."""
    sizes = partner_sizes(rng, partners, reps)
    steps = list(range(partners))
    rng.shuffle(steps)
    span = TARGET_HIGH - TARGET_LOW
    targets = [TARGET_LOW + span * s / max(1, partners - 1) for s in steps]
    without = set(rng.sample(range(1, partners), without_performer_count(partners)))
    plans = [
        PartnerPlan(size=size, activation=target, has_performer=i not in without)
        for i, (size, target) in enumerate(zip(sizes, targets, strict=True))
    ]
    for plan in plans:
        plan.kinds, plan.leavers = _archetypes(rng, plan)
    return plans


def _archetypes(rng: random.Random, plan: PartnerPlan) -> tuple[list[int], int]:
    """Inside one partner: its active reps (the target share, kept within the activation
    bounds), split into a few performers, a motivated group, a few independents and a
    casual rest; everyone else dormant (2:6:2 with a thin top)."""
    size = plan.size
    low = max(1, math.ceil(ACTIVATION_MIN * size))
    high = max(1, math.floor(ACTIVATION_MAX * size))
    active = min(high, max(low, round(size * plan.activation)))
    performers = max(1, round(active * 0.12)) if plan.has_performer else 0
    motivated = min(active - performers, max(1, round(active * 0.22)))
    independents = min(active - performers - motivated, max(int(active >= 4), round(active * 0.08)))
    casual = active - performers - motivated - independents
    kinds = [PERFORMER] * performers + [MOTIVATED] * motivated + [INDEPENDENT] * independents
    kinds += [CASUAL] * casual + [DORMANT] * (size - active)
    rng.shuffle(kinds)
    # Leavers are dormant and few enough that the employed reps' rate stays in bounds.
    leavers = sum(rng.random() < LEAVER_SHARE for _ in range(size - active))
    return kinds, max(0, min(leavers, size - math.ceil(active / ACTIVATION_MAX)))


# --- views and deals --------------------------------------------------------------------


@dataclass
class World:
    """What the view and deal rows are drawn from, and what they did (for the summary)."""

    tenant_id: int
    rep_ids: list[int]
    kinds: list[int]  # archetype per rep
    rep_partner: list[int]  # partner pk per rep
    has_performer: dict[int, bool]  # per partner pk
    sf_user: list[str]
    partner_external: dict[int, str]
    early: list[int]  # material pks
    late: list[int]
    now: dt.datetime
    today: dt.date
    anchor: dt.datetime  # midnight at the start of today, tenant time
    days: int
    newcomer: list[bool] = field(default_factory=list)
    since: list[float] = field(default_factory=list)  # days back a reader's reading began
    views_per_rep: list[int] = field(default_factory=list)
    active: set[int] = field(default_factory=set)  # rep indexes active by the definition
    burst_reps: list[int] = field(default_factory=list)
    stages: dict[str, int] = field(default_factory=dict)


def choose_starts(rng: random.Random, world: World) -> None:
    """When each reader's recent reading began (momentum: more reps read week after week).

    Performers read all along; a motivated rep began 3 to 12 weeks ago, a casual one 1 to 12
    weeks ago, and about one casual rep in eight (a newcomer) in the last ``NEWCOMER_DAYS``
    days with no view before (a "first view" signal).
    """
    casual = [r for r, kind in enumerate(world.kinds) if kind == CASUAL]
    chosen = set(rng.sample(casual, max(1, round(NEWCOMER_SHARE * len(casual))) if casual else 0))
    world.newcomer = [r in chosen for r in range(len(world.kinds))]
    span = VIEW_WINDOW - MARGIN
    world.since = [
        span
        if kind == PERFORMER
        else rng.uniform(21, span)
        if kind == MOTIVATED
        else rng.uniform(1, NEWCOMER_DAYS)
        if new
        else rng.uniform(7, span)
        if kind == CASUAL
        else 0.0
        for kind, new in zip(world.kinds, world.newcomer, strict=True)
    ]


def choose_bursts(world: World, limit: int = 50) -> list[int]:
    """One burst per partner (its first motivated rep, else a performer), two more in the
    largest partner: reps who read 5+ materials within the last hour or day."""
    by_partner: dict[int, list[int]] = {}
    for r, kind in enumerate(world.kinds):
        if kind in (MOTIVATED, PERFORMER):
            by_partner.setdefault(world.rep_partner[r], []).append(r)
    chosen: list[int] = []
    for i, reps in enumerate(by_partner.values()):
        reps.sort(key=lambda r: (world.kinds[r] != MOTIVATED, r))
        chosen.extend(reps[: 3 if i == 0 else 1])
    return chosen[:limit]


def view_rows(rng: random.Random, world: World, n_views: int) -> Iterator[tuple]:
    """``n_views`` rows of (tenant, rep, material, viewed_at, duration, source, event id).

    First one recent view for every reader (performer, motivated, casual), then the bursts,
    then the rest drawn by archetype weight; each part as far as the budget goes.
    """
    readers = [r for r, k in enumerate(world.kinds) if k in READERS]
    bursts = [
        (r, rng.randint(*BURST_VIEWS), rng.uniform(1, 30)) for r in choose_bursts(world)
    ]  # rep, views, hours before now the burst ended
    weights = []
    for kind in world.kinds:
        weight = VIEW_WEIGHT[kind]
        if kind == DORMANT and rng.random() < LAPSED_SHARE:
            weight = LAPSED_VIEW_WEIGHT
        weights.append(weight * rng.uniform(0.5, 1.5))
    forced = readers[:n_views]
    burst_budget = n_views - len(forced)
    burst_views = [(r, hours) for r, count, hours in bursts for _ in range(count)][
        : max(0, burst_budget)
    ]
    world.burst_reps = sorted({r for r, _hours in burst_views})  # those the budget allowed
    rest = n_views - len(forced) - len(burst_views)
    drawn = rng.choices(range(len(world.kinds)), weights=weights, k=rest) if rest > 0 else []
    world.views_per_rep = [0] * len(world.kinds)
    for r in (*forced, *(r for r, _h in burst_views), *drawn):
        world.views_per_rep[r] += 1

    day = 86400
    old_start = (VIEW_WINDOW + MARGIN) * day
    old_span = world.days * day - old_start
    random_ = rng.random
    n = 0

    def row(r: int, at: dt.datetime) -> tuple:
        kind = world.kinds[r]
        pool = world.late if random_() < LATE_SHARE[kind] else world.early
        return (
            world.tenant_id,
            world.rep_ids[r],
            pool[int(random_() * len(pool))],
            at,
            int(rng.expovariate(1 / 150)),
            "seed_demo",
            f"seed-{n:09d}",
        )

    def recent(r: int) -> dt.datetime:
        world.active.add(r)
        span = world.since[r] * day
        return world.anchor - dt.timedelta(seconds=60 + int(random_() * (span - 60)))

    for r in forced:
        yield row(r, recent(r))
        n += 1
    for r, hours in burst_views:
        world.active.add(r)
        at = world.now - dt.timedelta(hours=hours, minutes=random_() * 55)
        yield row(r, at)
        n += 1
    for r in drawn:
        kind = world.kinds[r]
        if world.newcomer[r] or random_() < RECENT_SHARE[kind]:
            at = recent(r)
        else:
            at = world.anchor - dt.timedelta(seconds=old_start + int(random_() * old_span))
        yield row(r, at)
        n += 1


def deal_rows(rng: random.Random, world: World, n_deals: int) -> Iterator[tuple]:
    """``n_deals`` Salesforce opportunities as rows for the Deal columns of seed_demo.

    One recent win is reserved for every performer and independent. Performers and
    independents win often; casual reps win more the more they read, but only where the
    partner has a performer (elsewhere their wins are older than the results window);
    motivated reps have open and lost deals only; dormant reps' deals are old: created
    before the view window, won over a year ago, or still open (stale).
    """
    winners = [r for r, k in enumerate(world.kinds) if k in WINNERS][:n_deals]
    weights = []
    for kind in world.kinds:
        weight = DEAL_WEIGHT[kind]
        if kind == DORMANT and rng.random() < OLD_SELLER_SHARE:
            weight = OLD_SELLER_DEAL_WEIGHT
        weights.append(weight * rng.uniform(0.6, 1.4))
    rest = n_deals - len(winners)
    drawn = rng.choices(range(len(world.kinds)), weights=weights, k=rest) if rest > 0 else []
    casual_views = [world.views_per_rep[r] for r, k in enumerate(world.kinds) if k == CASUAL]
    max_casual = max(casual_views or [1]) or 1
    stages = dict.fromkeys((*OPEN_STAGES, WON, LOST), 0)
    world.stages = stages
    today, anchor, now, days = world.today, world.anchor, world.now, world.days
    stale = VIEW_WINDOW + MARGIN  # days: created before the view window

    for n, r in enumerate((*winners, *drawn)):
        kind = world.kinds[r]
        partner = world.rep_partner[r]
        recent_wins = kind in WINNERS or (kind == CASUAL and world.has_performer[partner])
        if n < len(winners):
            p_won, p_lost = 1.0, 0.0
        elif kind in WINNERS:
            p_won, p_lost = 0.55, 0.15
        elif kind == MOTIVATED:
            p_won, p_lost = 0.0, 0.2
        elif kind == CASUAL:
            p_won, p_lost = 0.06 + 0.4 * world.views_per_rep[r] / max_casual, 0.3
        else:
            p_won, p_lost = 0.04, 0.5
        roll = rng.random()
        stage = (
            WON
            if roll < p_won
            else LOST
            if roll < p_won + p_lost
            else OPEN_STAGES[min(3, int(rng.random() ** (1.6 if kind == MOTIVATED else 1) * 4))]
        )
        stages[stage] += 1
        closed = stage in (WON, LOST)
        if stage == WON and recent_wins:
            limit = VIEW_WINDOW if n < len(winners) else RESULTS_WINDOW - MARGIN
            close_back = rng.randrange(0, min(limit, days))
        elif stage == WON:  # over a year ago, before the results window
            close_back = rng.randrange(OLD_WIN_DAYS + MARGIN, OLD_WIN_DAYS + MARGIN + days)
        else:
            close_back = rng.randrange(0, days)
        if closed:
            close_date = today - dt.timedelta(days=close_back)
            created_back = close_back + rng.randrange(14, 120)
            modstamp = anchor - dt.timedelta(days=close_back, hours=-rng.randrange(9, 19))
        else:
            close_date = today + dt.timedelta(days=rng.randrange(7, 150))
            created_back = rng.randrange(1, 150)
            modstamp = anchor - dt.timedelta(hours=rng.randrange(1, 24 * 20))
        if kind == DORMANT:
            created_back = max(created_back, stale + rng.randrange(0, 240))
        elif created_back < VIEW_WINDOW or (stage == WON and recent_wins):
            world.active.add(r)
        created = anchor - dt.timedelta(days=created_back)
        modstamp = min(max(modstamp, created), now)  # never in the future
        amount = decimal.Decimal(int(rng.lognormvariate(15.0, 0.9)) // 1000 * 1000)
        customer = f"{rng.choice(CITIES)}{rng.choice(CUSTOMERS)}株式会社"
        yield (
            world.tenant_id,
            sf_id("006", 100_000 + n),
            f"{customer} {rng.choice(PRODUCTS)} 導入",
            partner,
            world.rep_ids[r],
            amount,
            "JPY",
            stage,
            closed,
            stage == WON,
            close_date,
            created,
            modstamp,
            modstamp,
            world.partner_external[partner],
            world.sf_user[r],
        )


def activation_by_partner(world: World, employed: Sequence[bool]) -> dict[int, float]:
    """Per partner pk: active employed reps ÷ employed reps, from what was generated."""
    reps: dict[int, int] = {}
    active: dict[int, int] = {}
    for r, partner in enumerate(world.rep_partner):
        if employed[r]:
            reps[partner] = reps.get(partner, 0) + 1
            active[partner] = active.get(partner, 0) + (r in world.active)
    return {p: active[p] / n for p, n in reps.items()}


# --- partner totals (share of wallet) ---------------------------------------------------

COMPETITORS = ["CompeteX", "SalesHub", "ベンダーA", "クラウドB", "NexaSuite", "オフィスC"]


def partner_total_rows(
    rng: random.Random,
    *,
    partners: Sequence[tuple[int, int | None]],
    won: dict[tuple[int, dt.date], decimal.Decimal],
    periods: Sequence[tuple[dt.date, dt.date]],
) -> list[dict]:
    """The partners' totals for ``periods`` (the last complete quarters, oldest first), so
    that the demo shows shares: each partner's share starts between 12% and 50% and
    drifts by up to ±12 points a quarter (gainers and losers). The last partner reports
    none (the pages say "no total reported"), the second one's older total is below our
    own wins there (flagged inconsistent), every third one is an estimate.
    ``partners``: (pk, competing products) in creation order; ``won``: our corporate won
    amount per (partner, quarter start)."""
    rows = []
    for i, (pk, competing) in enumerate(partners):
        if i == len(partners) - 1 and len(partners) > 1:
            continue
        start_share = rng.uniform(0.12, 0.5)
        drift = rng.uniform(-0.12, 0.12)
        names = rng.sample(COMPETITORS, min(len(COMPETITORS), competing or 0))
        for k, (start, end) in enumerate(periods):
            share = min(0.85, max(0.05, start_share + drift * k))
            ours = won.get((pk, start)) or decimal.Decimal(0)
            if i == 1 and k == 0 and ours > 0:
                total = ours * decimal.Decimal("0.8")
                note = "報告値の確認待ち (当社受注額を下回る)"
            elif ours > 0:
                total = ours / decimal.Decimal(str(share))
                note = ""
            else:
                total = decimal.Decimal(rng.randrange(20, 200) * 1_000_000)
                note = ""
            # Rounded to ten thousand yen, as a partner would report it.
            total = (total / 10_000).quantize(decimal.Decimal(1), decimal.ROUND_HALF_UP) * 10_000
            rows.append(
                {
                    "partner_id": pk,
                    "granularity": "quarter",
                    "period_start": start,
                    "period_end": end,
                    "total_amount": total,
                    "currency": "JPY",
                    "deal_count": max(1, round(total / rng.randrange(2_000_000, 6_000_000))),
                    "competing_products": competing,
                    "competing_product_names": names,
                    "source": "estimated" if i % 3 == 2 else "reported",
                    "note": note,
                }
            )
    return rows
