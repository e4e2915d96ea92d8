"""A naive view time is read in the tenant's zone as ``replace(tzinfo=tz)`` reads it (the
same zone, fold and moment): the ingestion attaches the zone with ``datetime.combine``
(faster on CPython 3.11)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from activities.services.material_views import _aware, _parse_viewed_at

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")

NAIVE = [
    dt.datetime(2026, 3, 29, 2, 30),  # in the spring gap
    dt.datetime(2026, 10, 25, 2, 30),  # ambiguous, first pass
    dt.datetime(2026, 10, 25, 2, 30, fold=1),  # ambiguous, second pass
    dt.datetime(2026, 7, 1, 12, 0, 0, 999_999),
    dt.datetime(1, 1, 1),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999_999),
]


@pytest.mark.parametrize("naive", NAIVE, ids=str)
@pytest.mark.parametrize("tz", [BERLIN, zoneinfo.ZoneInfo("Asia/Tokyo"), dt.UTC])
def test_a_naive_time_takes_the_zone_as_replace_gives_it(naive, tz):
    expected = naive.replace(tzinfo=tz)
    got = _aware(naive, tz)
    assert got.tzinfo is tz
    assert got.fold == expected.fold
    assert repr(got) == repr(expected)
    if naive.year not in (1, 9999):
        assert got.utcoffset() == expected.utcoffset()
        assert got.astimezone(dt.UTC) == expected.astimezone(dt.UTC)


def test_an_aware_time_keeps_its_own_offset():
    aware = dt.datetime(2026, 10, 25, 2, 30, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    assert _aware(aware, BERLIN) is aware


@pytest.mark.parametrize(
    "text, utc",
    [
        ("2026-03-29T02:30:00", dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC)),
        ("2026-10-25T02:30:00", dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)),
        ("2026-10-25T03:30:00", dt.datetime(2026, 10, 25, 2, 30, tzinfo=dt.UTC)),
        ("2026-10-25T02:30:00+01:00", dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC)),
    ],
)
def test_the_parsed_time_is_the_moment_in_the_tenant_zone(text, utc):
    # (In UTC: PEP 495 makes an inter-zone ``==`` false for a time in a gap or a fold.)
    assert _parse_viewed_at(text, BERLIN).astimezone(dt.UTC) == utc
    assert _parse_viewed_at(dt.datetime.fromisoformat(text), BERLIN).astimezone(dt.UTC) == utc
