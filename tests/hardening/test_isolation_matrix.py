"""The isolation matrix: every page and API endpoint, built from the URL resolver.

A route added later is picked up automatically. For each one:

* anonymous: a page redirects to the login page, an endpoint answers 401;
* logged in without a membership: 403; a member whose role lacks the view's
  capability: 403;
* the tenant's own member holding the capability reaches it (the ids below are right);
* another tenant's member (and another tenant's API key) with this tenant's ids: 404,
  exactly like an id that does not exist;
* every list, as either tenant, shows none of the other tenant's rows.

A route whose path parameter cannot be filled fails with a message: add it to
``PARAM_VALUES`` or name the model in ``SEGMENT_MODELS``.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
from contextlib import nullcontext
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from partners.models import PartnerTotal
from pse_crm import roles
from pse_crm.models import Invitation, Membership, TenantOwned
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.deal_signals.factories import DealSignalFactory
from tests.factories import MembershipFactory, UserFactory, make_api_key
from tests.hardening.conftest import acting_as_app_role
from tests.knowhow.factories import HearingFactory, KnowHowShareFactory
from tests.partners.factories import PartnerDomainFactory, PartnerFactory
from tests.segmentation.factories import RepSegmentFactory, SegmentationRunFactory
from tests.support.factories import SupportTaskFactory

# Open to everyone by design (no tenant data). The tenant switcher is any logged-in
# user's (it answers 404 for a tenant they are not a member of: tests/pse_crm). An
# invitation link is opened before any login; its signed token is the key
# (tests/pse_crm/test_invitations.py).
PUBLIC = {
    "health",
    "set_language",
    "login",
    "logout",
    "api-schema",
    "api-docs",
    "switch-tenant",
    "invitation-accept",
}
# No login for the probes and /metrics (its token: tests/pse_crm/test_operability.py).
PUBLIC |= {"healthz", "readyz", "metrics"}
# Salesforce Outbound Messages: the API key in the path is the only credential (no session,
# no header); wrong keys, scopes and tenant isolation: tests/activities/test_outbound.py.
PUBLIC |= {"api-salesforce-outbound"}
SKIP_PREFIXES = ("admin/",)  # the admin has its own wall (staff + role), tested apart
# Path parameters that are not an object's id.
PARAM_VALUES = {"fmt": "csv"}
# Page path segment -> model, where the segment is not the model's name.
SEGMENT_MODELS = {
    "members": "pse_crm.Membership",
    "tasks": "support.SupportTask",
    "signals": "deal_signals.DealSignal",
    "runs": "segmentation.SegmentationRun",
}
TOKEN = {"acme": "ZQACMEQZ", "rival": "ZQRIVALQZ"}
ROLE_ORDER = [Role.VIEWER, Role.STAFF, Role.MANAGER, Role.OWNER]


@dataclass(frozen=True)
class Route:
    name: str
    route: str
    params: tuple[str, ...]
    callback: object
    is_api: bool

    def __str__(self) -> str:
        return self.name


_PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>")


def _walk(resolver, prefix=""):
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def _routes() -> list[Route]:
    found = {}
    for route, entry in _walk(get_resolver()):
        if route.startswith(SKIP_PREFIXES) or entry.name in PUBLIC or entry.name is None:
            continue
        params = tuple(a or b for a, b in _PARAM.findall(route))
        found.setdefault(
            entry.name,
            Route(entry.name, route, params, entry.callback, route.startswith("api/")),
        )
    return sorted(found.values(), key=lambda r: r.name)


ROUTES = _routes()


# --- what a route needs ---------------------------------------------------------------


def _methods(r: Route) -> list[str]:
    actions = getattr(r.callback, "actions", None)
    if actions:
        return [m.upper() for m in actions]
    cls = getattr(r.callback, "cls", None) or getattr(r.callback, "view_class", None)
    if cls is not None:
        return [m.upper() for m in ("get", "post") if hasattr(cls, m)]
    func = r.callback
    while func is not None:  # require_POST / require_http_methods
        allowed = inspect.getclosurevars(func).nonlocals.get("request_method_list")
        if allowed:
            return [m.upper() for m in allowed]
        func = getattr(func, "__wrapped__", None)
    return ["GET", "POST"]


def _capability(r: Route, method: str):
    """The capability the route demands for ``method``; None when it cannot be told."""
    cls = getattr(r.callback, "cls", None)
    if cls is not None:  # DRF
        if method in ("GET", "HEAD", "OPTIONS"):
            return getattr(cls, "read_capability", roles.READ)
        action = (getattr(r.callback, "actions", None) or {}).get(method.lower())
        return getattr(cls, "action_capabilities", {}).get(
            action, getattr(cls, "write_capability", frozenset())
        )
    view_class = getattr(r.callback, "view_class", None)
    if view_class is not None and hasattr(view_class, "capability"):
        return view_class.capability
    func = r.callback
    while func is not None:
        for value in inspect.getclosurevars(func).nonlocals.values():
            if (
                isinstance(value, frozenset)
                and value
                and value <= set(ROLE_ORDER) | {roles.INTEGRATION}
            ):
                return value
        func = getattr(func, "__wrapped__", None)
    return None


def _model_for_segment(segment: str):
    if segment in SEGMENT_MODELS:
        return apps.get_model(SEGMENT_MODELS[segment])
    key = segment.replace("-", "").replace("_", "").lower()
    candidates = [
        m
        for m in apps.get_models()
        if issubclass(m, TenantOwned)
        and m.__name__.lower() in {key, key.rstrip("s"), key.removesuffix("es")}
    ]
    return candidates[0] if len(candidates) == 1 else None


def _kwargs(r: Route, tenant, key_prefix: str) -> tuple[dict, bool]:
    """The route's path parameters pointing at ``tenant``'s rows, and whether one of them
    is a natural key (a kind, a code) that every tenant may have a row for."""
    kwargs, natural = {}, False
    cls = getattr(r.callback, "cls", None)
    segments = [s for s in re.split(r"[/^$]", r.route) if s]
    for param in r.params:
        if param in PARAM_VALUES:
            kwargs[param] = PARAM_VALUES[param]
            natural = True
            continue
        if param == "prefix":
            kwargs[param] = key_prefix
            continue
        if cls is not None and getattr(cls, "model", None) is not None:
            model, field = cls.model, getattr(cls, "lookup_field", "pk")
        else:
            idx = next(i for i, s in enumerate(segments) if param in s)
            model, field = _model_for_segment(segments[idx - 1]), "pk"
        assert model is not None, f"{r.name}: cannot fill <{param}>; add it to PARAM_VALUES"
        obj = model._base_manager.filter(tenant=tenant).order_by("pk").first()
        assert obj is not None, f"{r.name}: no {model.__name__} of {tenant.slug} to point at"
        kwargs[param] = obj.serializable_value(field)
        f = model._meta.pk if field == "pk" else model._meta.get_field(field)
        natural = natural or not (f.primary_key or f.is_relation)
    return kwargs, natural


# --- two tenants with one of everything --------------------------------------------------


def _seed(tenant) -> str:
    from deal_signals.models import SignalKind, SignalRule
    from momentum.models import MomentumSnapshot
    from segmentation.models import PartnerSegment
    from support.models import QuickWin

    token = TOKEN[tenant.slug]
    now = timezone.now()
    with tenant_scope(tenant):
        partner = PartnerFactory(tenant=tenant, name=f"{token} Partner")
        PartnerDomainFactory(tenant=tenant, partner=partner)
        PartnerTotal.objects.create(
            tenant=tenant,
            partner=partner,
            granularity="quarter",
            period_start=dt.date(2026, 7, 1),
            period_end=dt.date(2026, 9, 30),
            total_amount=1,
            currency="JPY",
            note=f"{token} total",
        )
        deal = DealFactory(
            tenant=tenant,
            rep__partner=partner,
            rep__name=f"{token} Rep",
            partner=partner,
            name=f"{token} Deal",
        )
        rep = deal.rep
        MaterialViewFactory(tenant=tenant, rep=rep, material__tenant=tenant, material__title=token)
        run = SegmentationRunFactory(tenant=tenant)
        RepSegmentFactory(tenant=tenant, rep=rep, partner=partner, run=run)
        PartnerSegment.objects.create(tenant=tenant, run=run, partner=partner)
        DealSignalFactory(tenant=tenant, rep=rep, partner=partner)
        SignalRule.objects.get_or_create(tenant=tenant, kind=SignalKind.BURST)
        HearingFactory(tenant=tenant, rep=rep, sales_approach=f"{token} approach")
        KnowHowShareFactory(tenant=tenant, partner=partner, know_how__title=f"{token} Know-how")
        owner = MembershipFactory(tenant=tenant, role=Role.OWNER).user
        Invitation.objects.create(
            tenant=tenant,
            email=f"invitee@{tenant.slug}.example",
            invited_by=owner,
            expires_at=now + dt.timedelta(days=7),
        )
        task = SupportTaskFactory(tenant=tenant, rep=rep, assignee=owner, title=f"{token} Task")
        QuickWin.objects.create(
            tenant=tenant,
            task=task,
            started_on=now.date() - dt.timedelta(days=3),
            window_days=30,
            outcome="pending",
            computed_at=now,
        )
        monday = now.date() - dt.timedelta(days=now.weekday())
        MomentumSnapshot.objects.create(
            tenant=tenant,
            partner=partner,
            week_start=monday,
            iso_year=monday.isocalendar()[0],
            iso_week=monday.isocalendar()[1],
            computed_at=now,
        )
        # The same ISO code in both tenants (a natural key), with different rates.
        from activities.models import CurrencyRate, DatedCurrencyRate

        rate = 2 if tenant.slug == "rival" else 0.0068
        CurrencyRate.objects.create(tenant=tenant, iso_code="USD", conversion_rate=rate)
        DatedCurrencyRate.objects.create(
            tenant=tenant,
            iso_code="USD",
            conversion_rate=rate,
            start_date=dt.date(2026, 1, 1),
            next_start_date=dt.date(2026, 4, 1),
        )
    return token


@pytest.fixture
def world(tenant, other_tenant):
    _seed(tenant)
    _seed(other_tenant)
    members = {
        role: MembershipFactory(tenant=tenant, role=role, user__email=f"{role}@acme.example").user
        for role in ROLE_ORDER
    }
    rival = MembershipFactory(
        tenant=other_tenant, role=Role.OWNER, user__email="owner@rival.example"
    ).user
    key, raw = make_api_key(tenant)
    _, rival_raw = make_api_key(other_tenant)
    return {
        "tenant": tenant,
        "other": other_tenant,
        "members": members,
        "rival": rival,
        "key": key,
        "raw_key": raw,
        "rival_raw_key": rival_raw,
        "loner": UserFactory(email="no.membership@example.com"),
    }


# --- the matrix --------------------------------------------------------------------------


def _client(user=None, key=None, api=False):
    c = APIClient()
    if user is not None:
        c.force_login(user)
    if key is not None:
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return c


def _call(c, method, url):
    if method == "GET":
        return c.get(url, HTTP_ACCEPT="text/html,application/json")
    return getattr(c, method.lower())(url, {}, format="json")


def _text(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _holder(capability):
    """The lowest member role that holds ``capability`` (None: only an integration)."""
    return next((r for r in ROLE_ORDER if r in capability), None)


@pytest.mark.django_db
@pytest.mark.parametrize("r", ROUTES, ids=str)
def test_route_isolation(r: Route, world):
    # On PostgreSQL the requests run as the application's database role, so the matrix
    # also shows that every route works behind row-level security.
    kwargs, natural = _kwargs(r, world["tenant"], world["key"].prefix)
    with acting_as_app_role() if connection.vendor == "postgresql" else nullcontext():
        _check_route(r, world, kwargs, natural)


def _check_route(r: Route, world, kwargs: dict, natural: bool):
    url = reverse(r.name, kwargs=kwargs)
    methods = _methods(r)
    method = "GET" if "GET" in methods else methods[0]
    capability = _capability(r, method)

    # Anonymous.
    response = _call(_client(), method, url)
    if r.is_api:
        assert response.status_code == 401, f"anonymous {method} {url}: {response.status_code}"
    else:
        assert response.status_code == 302, f"anonymous {method} {url}: {response.status_code}"
        assert response["Location"].startswith(reverse("login")), response["Location"]

    # Logged in, member of no tenant.
    response = _call(_client(world["loner"]), method, url)
    assert response.status_code == 403, f"no membership {method} {url}: {response.status_code}"

    # A member whose role lacks the capability.
    if capability is not None:
        lacking = next((role for role in ROLE_ORDER if role not in capability), None)
        if lacking is not None:
            response = _call(_client(world["members"][lacking]), method, url)
            assert response.status_code == 403, (
                f"{lacking} {method} {url}: {response.status_code} (needs {sorted(capability)})"
            )

    # The tenant's own member (or key) with the capability reaches it: the ids are right.
    holder = Role.OWNER if capability is None or Role.OWNER in capability else _holder(capability)
    own = _client(world["members"][holder]) if holder is not None else _client(key=world["raw_key"])
    response = _call(own, method, url)
    assert response.status_code not in (403, 404) and response.status_code < 500, (
        f"own {holder or 'key'} {method} {url}: {response.status_code}"
    )
    if method == "GET" and response.status_code == 200:
        assert TOKEN["rival"] not in _text(response), f"{url} shows the other tenant"

    # Another tenant's member (an owner there) and another tenant's key, with our ids.
    outsiders = [("rival owner", _client(world["rival"]))]
    if r.is_api:
        outsiders.append(("rival key", _client(key=world["rival_raw_key"])))
    for who, c in outsiders:
        response = _call(c, method, url)
        if r.params and not natural:
            # A key refused the capability outright is told so before any lookup (403);
            # otherwise our id is, to them, an id that does not exist (404).
            refused = who == "rival key" and not roles.role_allows(roles.INTEGRATION, capability)
            expected = 403 if refused else 404
            assert response.status_code == expected, f"{who} {method} {url}: {response.status_code}"
        else:
            # A list, or a natural key the other tenant has its own row for: its own rows.
            assert response.status_code < 500, f"{who} {method} {url}: {response.status_code}"
            assert TOKEN["acme"] not in _text(response), f"{who} sees acme at {url}"


def test_the_matrix_covers_pages_and_endpoints():
    names = {r.name for r in ROUTES}
    assert {"dashboard", "settings-audit"} <= names
    assert any(r.is_api for r in ROUTES) and any(not r.is_api for r in ROUTES)
    assert any(r.params for r in ROUTES)


def test_membership_ids_of_another_tenant_are_not_found(world):
    """A direct check of the most sensitive route: changing a member's role."""
    victim = Membership.of_user.get(user=world["members"][Role.VIEWER])
    c = _client(world["rival"])
    response = c.post(
        reverse("settings-member-update", kwargs={"pk": victim.pk}), {"role": "owner"}
    )
    assert response.status_code == 404
    victim.refresh_from_db()
    assert victim.role == Role.VIEWER
