"""Any order and mix of partial and full versions of a deal, in any batching, ends where
applying them by version ends: each field holds the value of the newest version that
carried it (the default when none did), and the deal's version is the newest one.

Stamps are distinct, or equal only with equal content, so "by version" is well defined.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.deal_inputs import ALL_ATTRIBUTES, DealInput
from activities.models import Deal
from activities.services.deals import deal_sync
from pse_crm.sfid import to_18
from pse_crm.tenancy import tenant_scope

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_ids = itertools.count(1)

# Attribute -> (values to draw from, default of a new deal, the stored column).
FIELDS = {
    "name": (["", "Alpha", "Beta", "Gamma"], "", "name"),
    "amount": ([None, Decimal("0.00"), Decimal("10.50"), Decimal("999.99")], None, "amount"),
    "converted_amount": ([None, Decimal("1.00"), Decimal("7.25")], None, "sf_converted_amount"),
    "currency": (["", "JPY", "USD", "EUR"], "JPY", "currency"),
    "stage": (["", "Prospecting", "Closed Won"], "", "stage"),
    "is_closed": ([False, True], False, "is_closed"),
    "is_won": ([False, True], False, "is_won"),
    "is_deleted": ([False, True], False, "is_deleted"),
    "close_date": ([None, dt.date(2026, 3, 31), dt.date(2026, 6, 30)], None, "close_date"),
    "sf_last_modified_at": ([None, T0, T0 + dt.timedelta(days=1)], None, "sf_last_modified_at"),
    "partner_key": (["", "P-1", "P-2"], "", "raw_partner_key"),
    "rep_key": (["", "a@example.jp", "b@example.jp"], "", "raw_rep_key"),
}
NAMES = sorted(FIELDS)


@st.composite
def histories(draw):
    """Versions of one deal: (stamp, values, carried fields); equal stamps share values."""
    stamps = draw(st.lists(st.integers(0, 6), min_size=1, max_size=5, unique=True))
    versions = []
    for stamp in stamps:
        values = {name: draw(st.sampled_from(FIELDS[name][0])) for name in NAMES}
        for _copy in range(draw(st.integers(1, 2))):  # equal stamp, equal content
            full = draw(st.booleans())
            carried = set(NAMES) if full else set(draw(st.sets(st.sampled_from(NAMES))))
            versions.append((stamp, values, frozenset(carried)))
            if _carried(frozenset(carried)) != carried:
                # This copy empties the conversion: so does every copy of this stamp.
                values["converted_amount"] = None
    order = draw(st.permutations(range(len(versions))))
    arrivals = [versions[i] for i in order]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(arrivals) - 1)), max_size=3)))
    batches, start = [], 0
    for cut in [*cuts, len(arrivals)]:
        if cut > start:
            batches.append(arrivals[start:cut])
            start = cut
    return versions, batches


def _input(sf_id: str, stamp: int, values: dict, carried: frozenset) -> DealInput:
    return DealInput(
        row=0,
        sf_id=sf_id,
        system_modstamp=T0 + dt.timedelta(seconds=stamp),
        present=frozenset({"sf_id", "system_modstamp"} | carried),
        **{name: values[name] for name in carried},
    )


def _carried(carried: frozenset) -> frozenset:
    """An amount or currency without Salesforce's conversion carries an empty one."""
    if carried & {"amount", "currency"} and "converted_amount" not in carried:
        return carried | {"converted_amount"}
    return carried


def by_version(versions) -> dict:
    """The reference: fields from the newest version that carried them."""
    versions = [(stamp, values, _carried(carried)) for stamp, values, carried in versions]
    expected = {}
    for name in NAMES:
        carrying = [(stamp, values) for stamp, values, carried in versions if name in carried]
        value = max(carrying, key=lambda c: c[0])[1][name] if carrying else FIELDS[name][1]
        expected[name] = "JPY" if name == "currency" and not value else value
    expected["system_modstamp"] = T0 + dt.timedelta(seconds=max(v[0] for v in versions))
    return expected


def _stored(deal: Deal) -> dict:
    out = {name: getattr(deal, FIELDS[name][2]) for name in NAMES}
    out["system_modstamp"] = deal.system_modstamp
    return out


def test_the_fields_cover_every_versioned_attribute():
    assert set(FIELDS) | {"sf_id", "system_modstamp", "sf_created_at"} == ALL_ATTRIBUTES


@pytest.mark.django_db
@SETTINGS
@given(history=histories())
def test_any_order_and_batching_ends_where_version_order_ends(tenant, history):
    versions, batches = history
    sf_id = to_18(f"006A00000{next(_ids):06d}")
    with tenant_scope(tenant):
        for batch in batches:
            deal_sync(tenant=tenant, deals=[_input(sf_id, *v) for v in batch])
        deal = Deal.objects.get(sf_id=sf_id)
        assert _stored(deal) == by_version(versions)
        # Replaying everything at once changes nothing.
        result = deal_sync(tenant=tenant, deals=[_input(sf_id, *v) for v in versions])
        assert result.created == result.updated == result.deleted == 0
        assert _stored(Deal.objects.get(sf_id=sf_id)) == by_version(versions)


# --- the same over HTTP, each batch in one of the shapes Salesforce sends --------------

OWNERS = ["", to_18("005A00000000001"), to_18("005A00000000002")]
SF_NAMES = {
    "name": "Name",
    "amount": "Amount",
    "converted_amount": "convertedAmount",
    "currency": "CurrencyIsoCode",
    "stage": "StageName",
    "is_closed": "IsClosed",
    "is_won": "IsWon",
    "is_deleted": "IsDeleted",
    "close_date": "CloseDate",
    "sf_last_modified_at": "LastModifiedDate",
    "partner_key": "PartnerAccountId",
    "rep_key": "OwnerId",
}


def _json_value(value):
    if value == "":
        return None  # present and empty, as Salesforce sends it
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _stamp_text(stamp: int) -> str:
    return (T0 + dt.timedelta(seconds=stamp)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _sf_record(sf_id, stamp, values, carried) -> dict:
    out = {"attributes": {"type": "Opportunity"}, "Id": sf_id, "SystemModstamp": _stamp_text(stamp)}
    out.update({SF_NAMES[n]: _json_value(values[n]) for n in carried})
    return out


def _api_record(sf_id, stamp, values, carried) -> dict:
    out = {"sf_id": sf_id, "system_modstamp": _stamp_text(stamp)}
    out.update({n: _json_value(values[n]) for n in carried})
    return out


def _event(sf_id, stamp, values, carried) -> dict:
    names = [SF_NAMES[n] for n in sorted(carried)]
    header = {
        "entityName": "Opportunity",
        "recordIds": [sf_id],
        "changeType": "UPDATE",
        "commitTimestamp": int((T0 + dt.timedelta(seconds=stamp)).timestamp() * 1000),
        "changedFields": names,
        "nulledFields": [SF_NAMES[n] for n in sorted(carried) if _json_value(values[n]) is None],
    }
    payload = {"ChangeEventHeader": header}
    payload.update({SF_NAMES[n]: _json_value(values[n]) for n in carried})
    return {"schema": "x", "payload": payload, "event": {"replayId": stamp}}


def _body(shape: str, sf_id: str, batch):
    if shape == "query":
        return {
            "totalSize": len(batch),
            "done": True,
            "records": [_sf_record(sf_id, *v) for v in batch],
        }
    if shape == "bare":
        return [_sf_record(sf_id, *v) for v in batch]
    if shape == "events":
        return [_event(sf_id, *v) for v in batch]
    return [_api_record(sf_id, *v) for v in batch]


@st.composite
def http_histories(draw):
    """``histories`` with rep keys that are user ids (the default rep match), and a shape
    for each batch."""
    versions, batches = draw(histories())
    # Equal-stamp copies share their values dict: they get the same owner.
    owners = {id(values): draw(st.sampled_from(OWNERS)) for _s, values, _c in versions}

    def with_owner(version):
        stamp, values, carried = version
        return stamp, {**values, "rep_key": owners[id(values)]}, carried

    shaped = []
    for batch in batches:
        options = ["query", "bare", "api"]
        if not any("is_deleted" in carried for _s, _v, carried in batch):
            options.append("events")  # a change event never carries IsDeleted
        shaped.append((draw(st.sampled_from(options)), [with_owner(v) for v in batch]))
    return [with_owner(v) for v in versions], shaped


@pytest.mark.django_db
@settings(SETTINGS, max_examples=60)
@given(history=http_histories())
def test_any_shape_order_and_batching_over_http_ends_where_version_order_ends(
    api_client, tenant, history
):
    versions, batches = history
    sf_id = to_18(f"006A00000{next(_ids):06d}")
    for shape, batch in batches:
        response = api_client.post(
            "/api/v1/deals/sync/", data=_body(shape, sf_id, batch), format="json"
        )
        assert response.status_code == 200, (shape, response.content)
    with tenant_scope(tenant):
        assert _stored(Deal.objects.get(sf_id=sf_id)) == by_version(versions)
