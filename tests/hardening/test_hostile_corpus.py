"""A hostile corpus against every write endpoint and every page filter: a 4xx, never a 500.

The endpoints come from the live OpenAPI schema (every POST/PUT/PATCH, so a new one is
covered the day it is added) and the page filters from the pages themselves (every
``<form method="get">`` field and every ``?name=`` link of a page without path parameters,
plus the page's POST forms). Each input must answer a 4xx, leave the server answering
(``GET /health/`` is 200) and change the row count of no table of ours, in either tenant.

Inputs: JSON nested 10,000 deep, bytes that are not UTF-8, NUL and a lone surrogate (as
the raw ``\\u0000`` / ``\\ud800`` escapes a hostile client writes), a number that
overflows a double (``1e309``), an integer id past any column, a time past year 9999 in
UTC; in query strings ``%00``, ``%ED%A0%80`` (a UTF-8-encoded surrogate) and ``%FF``.
Per-record refusals of the ingestion endpoints (material views, deal sync) are theirs to
word (tests/hardening/test_hostile_ingestion.py); here any 400 will do.
"""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from deal_signals.models import SignalKind, SignalRule
from pse_crm.roles import Role
from pse_crm.tenancy import tenant_scope
from tests.activities.factories import DealFactory, MaterialViewFactory
from tests.deal_signals.factories import DealSignalFactory
from tests.factories import MembershipFactory
from tests.knowhow.factories import HearingFactory, KnowHowShareFactory
from tests.partners.factories import PartnerDomainFactory, PartnerFactory
from tests.segmentation.factories import RepSegmentFactory, SegmentationRunFactory
from tests.support.factories import SupportTaskFactory

pytestmark = pytest.mark.django_db

DEPTH = 10_000
WHOLE_BODIES = {
    "10000-deep-arrays": ("[" * DEPTH + "]" * DEPTH).encode(),
    "10000-deep-objects": ('{"a":' * DEPTH + "1" + "}" * DEPTH).encode(),
    "10000-deep-unclosed": ("[" * DEPTH).encode(),
    "not-utf8": b'{"name": "\xff\xfe", "title": "\xed\xa0\x80"}',
}
TEXT, NUMBER, DATE = "text", "number", "date"
# (name, the JSON literal as sent, the properties it goes into)
VALUES = [
    ("nul", '"a\\u0000b"', TEXT),
    ("lone-surrogate", '"a\\ud800b"', TEXT),
    ("overflow-1e309", "1e309", NUMBER),
    ("huge-integer", "9" * 30, NUMBER),
    ("far-future", '"9999-12-31T23:59:59-14:00"', DATE),
]
HUGE_ID = "9" * 25
# Query-string values: the first three cannot be stored (400); the others are odd but
# storable text, which a filter may ignore (any answer below 500).
UNSTORABLE_QUERY = {"nul": "%00", "encoded-surrogate": "%ED%A0%80", "not-utf8": "%FF"}
ODD_QUERY = {
    "huge-integer": HUGE_ID,
    "overflow-1e309": "1e309",
    "far-future": quote("9999-12-31T23:59:59-14:00"),
}
# Bodies the schema does not describe field by field: a Salesforce query page.
SCHEMALESS = {
    "/api/v1/deals/sync/": (
        '{"totalSize": 1, "done": true, "records": [%s]}',
        {
            "Id": {"type": "string"},
            "Name": {"type": "string"},
            "StageName": {"type": "string"},
            "Amount": {"type": "number"},
            "CloseDate": {"type": "string", "format": "date"},
            "SystemModstamp": {"type": "string", "format": "date-time"},
            "PartnerAccountId": {"type": "string"},
            "OwnerId": {"type": "string"},
        },
    )
}
# Filters the pages must be found to have (the corpus enumerates them; this is a floor).
KNOWN_PAGE_FILTERS = {
    "partner-list": {"q"},
    "hearing-list": {"tag"},
    "keymen": {"q", "quadrant", "tier", "partner", "movers"},
    "task-list": {"status"},
    "deal-signals": {"kind", "partner", "status"},
}
OUR_APPS = {
    "pse_crm",
    "partners",
    "reps",
    "activities",
    "segmentation",
    "knowhow",
    "support",
    "deal_signals",
    "momentum",
}


# --- the schema's write operations -----------------------------------------------------


def _schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    raw = OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))
    return json.loads(raw)


SCHEMA = _schema()
COMPONENTS = SCHEMA["components"]["schemas"]


def _resolve(schema: dict) -> dict:
    while True:
        if "$ref" in schema:
            schema = COMPONENTS[schema["$ref"].rsplit("/", 1)[-1]]
        elif "allOf" in schema:
            schema = schema["allOf"][0]
        elif "oneOf" in schema:
            schema = next(s for s in schema["oneOf"] if s.get("type") != "null")
        else:
            return schema


def _operations(methods: set[str]) -> list[tuple[str, str, dict]]:
    return sorted(
        (method.upper(), path, op)
        for path, ops in SCHEMA["paths"].items()
        for method, op in ops.items()
        if method in methods and path.startswith("/api/v1/")
    )


WRITES = _operations({"post", "put", "patch"})


def _body_shape(path: str, op: dict) -> tuple[str, dict] | None:
    """``(template, properties)``: the body is ``template % record``; None: no body."""
    if path in SCHEMALESS:
        return SCHEMALESS[path]
    body = op.get("requestBody")
    if not body or "application/json" not in body["content"]:
        return None
    schema = _resolve(body["content"]["application/json"]["schema"])
    template = "%s"
    if schema.get("type") == "array":
        template, schema = "[%s]", _resolve(schema["items"])
    return template, {k: _resolve(v) for k, v in schema.get("properties", {}).items()}


def _kinds(prop: dict) -> set[str]:
    inner = _resolve(prop["items"]) if prop.get("type") == "array" else prop
    kinds = {TEXT}
    if inner.get("type") in ("integer", "number") or inner.get("format") == "decimal":
        kinds.add(NUMBER)
    if inner.get("format") in ("date", "date-time"):
        kinds.add(DATE)
    return kinds


# --- one of everything, in two tenants ---------------------------------------------------


def _seed(tenant) -> None:
    from momentum.models import MomentumSnapshot
    from segmentation.models import PartnerSegment

    now = timezone.now()
    with tenant_scope(tenant):
        partner = PartnerFactory(tenant=tenant)
        PartnerDomainFactory(tenant=tenant, partner=partner)
        deal = DealFactory(tenant=tenant, rep__partner=partner, partner=partner)
        MaterialViewFactory(tenant=tenant, rep=deal.rep, material__tenant=tenant)
        run = SegmentationRunFactory(tenant=tenant)
        RepSegmentFactory(tenant=tenant, rep=deal.rep, partner=partner, run=run)
        PartnerSegment.objects.create(tenant=tenant, run=run, partner=partner)
        DealSignalFactory(tenant=tenant, rep=deal.rep, partner=partner)
        SignalRule.objects.get_or_create(tenant=tenant, kind=SignalKind.BURST)
        HearingFactory(tenant=tenant, rep=deal.rep, tags=["renewal"])
        KnowHowShareFactory(tenant=tenant, partner=partner)
        SupportTaskFactory(tenant=tenant, rep=deal.rep)
        monday = now.date() - dt.timedelta(days=now.weekday())
        MomentumSnapshot.objects.create(
            tenant=tenant,
            partner=partner,
            week_start=monday,
            iso_year=monday.isocalendar()[0],
            iso_week=monday.isocalendar()[1],
            computed_at=now,
        )


@pytest.fixture
def owner_client(tenant, other_tenant):
    _seed(tenant)
    _seed(other_tenant)
    # A 500 is an answer to report with the others, not an exception to stop at.
    c = APIClient(raise_request_exception=False)
    c.force_login(MembershipFactory(tenant=tenant, role=Role.OWNER).user)
    return c


def _row_counts() -> dict[str, int]:
    """Rows of every table of ours (both tenants), in one statement."""
    models = [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.app_label in OUR_APPS and m._meta.managed and not m._meta.proxy
    ]
    tables = sorted({m._meta.db_table for m in models})
    quote_name = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(f"(SELECT count(*) FROM {quote_name(t)})" for t in tables)
        )
        return dict(zip(tables, cursor.fetchone(), strict=True))


class _Corpus:
    """Sends the inputs; collects every answer that breaks the rules, to fail once."""

    def __init__(self, client):
        self.client = client
        self.counts = _row_counts()
        self.failures: list[str] = []
        self.sent = 0

    def send(self, method: str, url: str, **kwargs):
        """One request, as in production, where each runs in autocommit
        (``ATOMIC_REQUESTS`` is off) and a statement PostgreSQL refuses leaves the
        connection usable: inside the test's transaction a savepoint plays that part."""
        try:
            with transaction.atomic():
                response = getattr(self.client, method.lower())(url, **kwargs)
        except DatabaseError:
            pass  # the request's refused statement; its answer stands
        return response

    def check(self, label: str, response, *, expect) -> None:
        self.sent += 1
        status = response.status_code
        if not expect(status):
            self.failures.append(f"{label}: {status} {response.content[:160]!r}")
        health = self.client.get("/health/")
        if health.status_code != 200:
            self.failures.append(f"{label}: then /health/ answered {health.status_code}")
        counts = _row_counts()
        if counts != self.counts:
            changed = {k: (self.counts[k], v) for k, v in counts.items() if self.counts[k] != v}
            self.failures.append(f"{label}: row counts changed {changed}")
            self.counts = counts

    def assert_clean(self) -> None:
        assert self.failures == [], "\n".join(self.failures)


def is_400(status: int) -> bool:
    return status == 400


def is_4xx(status: int) -> bool:
    return 400 <= status < 500


def refused(status: int) -> bool:
    """A 4xx about the input (an id that exists nowhere is a 404), not about the caller."""
    return 400 <= status < 500 and status not in (401, 403, 405)


def below_500(status: int) -> bool:
    return status < 500


def _fill(path: str, tenant) -> str:
    """The path with its parameters pointing at ``tenant``'s first row of the view's model."""
    if "{" not in path:
        return path
    param = path[path.index("{") + 1 : path.index("}")]
    cls = resolve(path.replace("{" + param + "}", "1")).func.cls
    field = getattr(cls, "lookup_field", "pk")
    obj = cls.model._base_manager.filter(tenant=tenant).order_by("pk").first()
    assert obj is not None, f"{path}: no {cls.model.__name__} of {tenant.slug} to point at"
    return path.replace("{" + param + "}", quote(str(obj.serializable_value(field))))


@pytest.mark.parametrize(("method", "path", "op"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_every_write_endpoint_refuses_hostile_input(owner_client, tenant, method, path, op):
    corpus = _Corpus(owner_client)
    url = _fill(path, tenant)
    shape = _body_shape(path, op)

    if shape is None:  # the operation reads no body: hostile query strings instead
        for name, value in UNSTORABLE_QUERY.items():
            corpus.check(f"?x={name}", corpus.send(method, f"{url}?x={value}"), expect=is_400)
    else:
        for name, body in WHOLE_BODIES.items():
            response = corpus.send(method, url, data=body, content_type="application/json")
            corpus.check(name, response, expect=is_400)
            assert response.json()["detail"], name  # the documented error shape
        template, properties = shape
        assert properties, f"{method} {path}: no properties to put hostile values into"
        for prop, schema in sorted(properties.items()):
            kinds = _kinds(schema)
            for name, literal, kind in VALUES:
                if kind not in kinds:
                    continue
                value = f"[{literal}]" if schema.get("type") == "array" else literal
                body = template % f"{{{json.dumps(prop)}: {value}}}"
                response = corpus.send(
                    method, url, data=body.encode(), content_type="application/json"
                )
                corpus.check(f"{prop}={name}", response, expect=refused)

    if "{" in path:  # an id no column can hold is an id that does not exist
        huge = path.replace(path[path.index("{") : path.index("}") + 1], HUGE_ID)
        response = corpus.send(method, huge, data=b"{}", content_type="application/json")
        corpus.check("huge id in the path", response, expect=refused)
    corpus.assert_clean()
    assert corpus.sent >= 3


# --- the API's list filters -----------------------------------------------------------


def test_every_api_filter_refuses_what_it_cannot_store(owner_client, tenant):
    corpus = _Corpus(owner_client)
    lists = [
        (path, [p["name"] for p in op.get("parameters", []) if p["in"] == "query"])
        for method, path, op in _operations({"get"})
        if "{" not in path
    ]
    assert "tag" in dict(lists)["/api/v1/hearings/"]
    for path, names in lists:
        for param in names:
            for name, value in UNSTORABLE_QUERY.items():
                response = corpus.send("GET", f"{path}?{param}={value}")
                corpus.check(f"{path}?{param}={name}", response, expect=is_400)
            for name, value in ODD_QUERY.items():
                response = corpus.send("GET", f"{path}?{param}={value}")
                corpus.check(f"{path}?{param}={name}", response, expect=below_500)
    corpus.assert_clean()


# --- pages: their filters and forms -----------------------------------------------------


class _PageForms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self.links: list[str] = []
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {
                "method": (a.get("method") or "get").lower(),
                "action": a.get("action") or "",
                "fields": set(),
            }
            self.forms.append(self._form)
        elif tag in ("input", "select", "textarea", "button") and a.get("name"):
            if self._form is not None:
                self._form["fields"].add(a["name"])
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def _pages() -> list[str]:
    """Names of the pages without path parameters (not the API, the admin or the probes)."""

    def walk(resolver, prefix=""):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                yield from walk(entry, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern) and entry.name:
                yield prefix + str(entry.pattern), entry

    return sorted(
        entry.name
        for route, entry in walk(get_resolver())
        if "<" not in route
        and "(?P" not in route
        and not route.startswith(("api/", "admin/", "i18n/"))
        and entry.name not in {"healthz", "readyz", "metrics", "logout"}
    )


def _discover(client, page: str) -> tuple[str, set[str], list[tuple[str, set[str]]]]:
    url = reverse(page)
    response = client.get(url)
    if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
        return url, set(), []
    parser = _PageForms()
    parser.feed(response.content.decode())
    filters = set()
    posts = []
    for form in parser.forms:
        action = form["action"] or url
        if form["method"] == "get" and urlsplit(action).path == url:
            filters |= form["fields"]
        elif form["method"] == "post":
            posts.append((action, form["fields"]))
    for href in parser.links:
        parts = urlsplit(href)
        if parts.query and parts.path in ("", url):
            filters |= {k for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
    return url, filters, posts


def test_every_page_filter_and_form_refuses_what_it_cannot_store(owner_client, tenant):
    corpus = _Corpus(owner_client)
    found = {page: _discover(owner_client, page) for page in _pages()}
    for page, expected in KNOWN_PAGE_FILTERS.items():
        assert expected <= found[page][1], f"{page}: the corpus did not find its filters"
    # The login page's form, which anyone can post to.
    found["login"] = (reverse("login"), set(), [(reverse("login"), {"username", "password"})])

    posted: set[tuple[str, frozenset]] = set()  # the header's forms are on every page
    for page, (url, filters, posts) in found.items():
        for param in sorted(filters):
            for name, value in UNSTORABLE_QUERY.items():
                response = corpus.send("GET", f"{url}?{param}={value}")
                corpus.check(f"{page}?{param}={name}", response, expect=is_400)
                assert "text/html" in response["Content-Type"], f"{page}?{param}={name}"
            for name, value in ODD_QUERY.items():
                response = corpus.send("GET", f"{url}?{param}={value}")
                corpus.check(f"{page}?{param}={name}", response, expect=below_500)
        for action, fields in posts:
            if (action, frozenset(fields)) in posted:
                continue
            posted.add((action, frozenset(fields)))
            response = corpus.send("POST", action, data=dict.fromkeys(fields or {"x"}, "x\x00"))
            corpus.check(f"{page}: POST {action} with NUL", response, expect=is_400)
            body = "&".join(f"{quote(f)}=%ED%A0%80" for f in fields or {"x"}).encode()
            response = corpus.send(
                "POST", action, data=body, content_type="application/x-www-form-urlencoded"
            )
            corpus.check(f"{page}: POST {action} not UTF-8", response, expect=is_400)
    corpus.assert_clean()
    assert corpus.sent >= 50
