"""A small fake Salesforce org over real HTTP, for the connector's tests and bench.

A WSGI app (``FakeOrg``) served on 127.0.0.1 from a thread (``serve``). It speaks the
parts of the REST API the connector uses, the way Salesforce does:

* ``POST /services/oauth2/token`` with ``grant_type=client_credentials``: a token, or 400
  ``{"error": "invalid_client", "error_description": ...}``;
* ``GET /services/data/vNN.0/query/`` and ``queryAll/`` with ``q=`` SOQL (the subset the
  connector sends: a select list with relationship paths and
  ``convertCurrency(Amount) alias``; ``WHERE SystemModstamp >= <datetime>``, ``Id IN
  (...)``, joined by AND; ``ORDER BY SystemModstamp, Id``; ``LIMIT``), paged with
  ``nextRecordsUrl`` (``page_size`` records a page); ``query`` leaves deleted records
  out, ``queryAll`` keeps them with ``IsDeleted: true``;
* errors as ``[{"errorCode", "message"}]``: ``INVALID_SESSION_ID`` (401) after
  ``expire_sessions()``, ``REQUEST_LIMIT_EXCEEDED`` (403), ``INVALID_TYPE`` (400) for
  ``CurrencyType`` / ``DatedConversionRate`` in a single-currency org, ``INVALID_FIELD``
  for ``CurrencyIsoCode`` there (or any unknown field), a duplicate field;
* faults on a chosen page, each used once: ``drop`` (the connection closes halfway
  through the body), ``malformed`` (200 with a page that is not JSON), ``limit``, ``500``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

CLIENT_ID = "3MVG9fake.client.id"
CLIENT_SECRET = "s3cr3t-Fake-Consumer-Secret"
ORG_ID = "00D000000000001EAA"
STANDARD_FIELDS = {
    "Id",
    "Name",
    "Amount",
    "StageName",
    "IsClosed",
    "IsWon",
    "IsDeleted",
    "CloseDate",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
    "PartnerAccountId",
    "OwnerId",
    "Owner.Email",
}
_EPOCH = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
_SELECT = re.compile(
    r"^SELECT (?P<fields>.+?) FROM (?P<object>\w+)"
    r"(?: WHERE (?P<where>.+?))?(?: ORDER BY (?P<order>.+?))?(?: LIMIT (?P<limit>\d+))?$",
    re.S,
)


def sf_time(moment: dt.datetime) -> str:
    """A datetime as Salesforce writes it: 2026-03-31T09:00:00.000+0000."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}+0000"
    )


def opportunity_id(n: int) -> str:
    """The n-th fake Opportunity id (18 characters, a valid checksum not needed here)."""
    return f"006{n:012d}AAA"


class FakeOrg:
    """One org's state and its HTTP API (a WSGI app). Thread-safe enough for one client."""

    def __init__(self, *, multicurrency: bool = False, page_size: int = 2000):
        self.multicurrency = multicurrency
        self.page_size = page_size
        self.api_version = "62.0"
        self.client_secret = CLIENT_SECRET  # change it to revoke the connected app's secret
        self.base_url = ""
        self.opportunities: dict[str, dict] = {}
        self.currency_types: list[dict] = []
        self.dated_rates: list[dict] = []
        self.tokens: set[str] = set()
        self.tokens_issued = 0
        self.log: list[tuple[str, str]] = []  # (path, SOQL or cursor)
        self.limit_exceeded = False
        self._expire = 0
        self._faults: dict[int, str] = {}
        self._cursors: dict[str, list[dict]] = {}
        self._ids = itertools.count(1)
        self._clock = _EPOCH
        self._lock = threading.Lock()

    # --- the org's data ------------------------------------------------------------

    def tick(self, seconds: float = 1) -> dt.datetime:
        self._clock += dt.timedelta(seconds=seconds)
        return self._clock

    def put(self, sf_id: str, **fields) -> dict:
        """Create or edit an Opportunity; its SystemModstamp moves on (unless given)."""
        stamp = fields.pop("SystemModstamp", None) or self.tick()
        record = self.opportunities.setdefault(
            sf_id,
            {
                "Id": sf_id,
                "Name": f"Deal {sf_id[-6:]}",
                "Amount": 1000,
                "StageName": "Prospecting",
                "IsClosed": False,
                "IsWon": False,
                "IsDeleted": False,
                "CloseDate": "2026-03-31",
                "CreatedDate": sf_time(stamp),
                "PartnerAccountId": None,
                "OwnerId": None,
                "Owner.Email": None,
                "CurrencyIsoCode": "JPY",
            },
        )
        record.update(fields)
        record["SystemModstamp"] = sf_time(stamp)
        record["LastModifiedDate"] = sf_time(stamp)
        record["_stamp"] = stamp
        return record

    def delete(self, sf_id: str) -> None:
        """To the recycle bin: queryAll still returns it, with IsDeleted true."""
        self.put(sf_id, IsDeleted=True)

    def purge(self, sf_id: str) -> None:
        """Gone for good (emptied from the recycle bin)."""
        del self.opportunities[sf_id]

    def expire_sessions(self, times: int = 1) -> None:
        """The next ``times`` API calls find the session expired (401 INVALID_SESSION_ID)."""
        self._expire = times

    def fault_on_page(self, page: int, kind: str) -> None:
        """The next request for page ``page`` (1: the query itself) of any query fails
        once: ``drop``, ``malformed``, ``limit`` or ``500``."""
        self._faults[page] = kind

    def queries(self, object_name: str = "Opportunity") -> list[str]:
        return [q for path, q in self.log if "/query" in path and f" FROM {object_name}" in q]

    # --- WSGI ----------------------------------------------------------------------

    def __call__(self, environ, start_response):
        with self._lock:
            status, headers, body = self._handle(environ)
        start_response(status, headers)
        return [body]

    def _json(self, status: str, body, extra: list | None = None):
        data = json.dumps(body, default=str).encode()
        return status, [("Content-Type", "application/json"), *(extra or [])], data

    def _error(self, status: str, code: str, message: str):
        return self._json(status, [{"message": message, "errorCode": code}])

    def _handle(self, environ):
        path = environ.get("PATH_INFO", "")
        method = environ["REQUEST_METHOD"]
        if path == "/services/oauth2/token" and method == "POST":
            return self._token(environ)
        match = re.match(r"^/services/data/v(\d+\.\d)/(query|queryAll)/(.*)$", path)
        if not match or method != "GET":
            return self._error(
                "404 Not Found", "NOT_FOUND", "The requested resource does not exist"
            )
        auth = environ.get("HTTP_AUTHORIZATION", "")
        token = auth.removeprefix("Bearer ")
        if token not in self.tokens:
            return self._error(
                "401 Unauthorized", "INVALID_SESSION_ID", "Session expired or invalid"
            )
        if self._expire:
            self._expire -= 1
            self.tokens.clear()
            return self._error(
                "401 Unauthorized", "INVALID_SESSION_ID", "Session expired or invalid"
            )
        if self.limit_exceeded:
            return self._limit()
        if float(match.group(1)) < 31.0:  # the oldest version Salesforce still serves
            return self._error(
                "404 Not Found", "NOT_FOUND", "The requested resource does not exist"
            )
        endpoint, cursor = match.group(2), match.group(3)
        if cursor:
            self.log.append((path, cursor))
            return self._more(cursor)
        soql = parse_qs(environ.get("QUERY_STRING", "")).get("q", [""])[0]
        self.log.append((path, soql))
        return self._query(soql, include_deleted=endpoint == "queryAll")

    def _limit(self):
        return self._error(
            "403 Forbidden", "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
        )

    def _token(self, environ):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(size).decode())
        value = {k: v[0] for k, v in form.items()}
        if value.get("grant_type") != "client_credentials":
            return self._json(
                "400 Bad Request",
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
        if value.get("client_id") != CLIENT_ID or value.get("client_secret") != self.client_secret:
            return self._json(
                "400 Bad Request",
                {"error": "invalid_client", "error_description": "invalid client credentials"},
            )
        self.tokens_issued += 1
        token = f"00DFAKE!token{self.tokens_issued}"
        self.tokens.add(token)
        return self._json(
            "200 OK",
            {
                "access_token": token,
                "instance_url": self.base_url,
                "id": f"{self.base_url}/id/{ORG_ID}/005000000000001AAA",
                "token_type": "Bearer",
                "issued_at": "1767603600000",
                "signature": "fake",
            },
        )

    # --- SOQL ----------------------------------------------------------------------

    def _query(self, soql: str, *, include_deleted: bool):
        match = _SELECT.match(soql.strip())
        if not match:
            return self._error(
                "400 Bad Request", "MALFORMED_QUERY", f"unexpected query: {soql[:80]}"
            )
        obj = match.group("object")
        if obj in ("CurrencyType", "DatedConversionRate"):
            if not self.multicurrency:
                return self._error(
                    "400 Bad Request",
                    "INVALID_TYPE",
                    f"sObject type '{obj}' is not supported.",
                )
            source = self.currency_types if obj == "CurrencyType" else self.dated_rates
            records = [{"attributes": {"type": obj}, **r} for r in source]
            return self._first_page(records)
        if obj != "Opportunity":
            return self._error(
                "400 Bad Request", "INVALID_TYPE", f"sObject type '{obj}' is not supported."
            )
        selected = [f.strip() for f in match.group("fields").split(",")]
        known = STANDARD_FIELDS | ({"CurrencyIsoCode"} if self.multicurrency else set())
        seen = set()
        for item in selected:
            name = item.split()[0] if not item.startswith("convertCurrency(") else item
            if name.lower() in seen:
                return self._error(
                    "400 Bad Request", "MALFORMED_QUERY", f"duplicate field selected: {name}"
                )
            seen.add(name.lower())
            if item.startswith("convertCurrency("):
                if not self.multicurrency:
                    return self._error(
                        "400 Bad Request", "INVALID_FIELD", "convertCurrency is not supported"
                    )
                continue
            if name not in known:
                return self._error(
                    "400 Bad Request",
                    "INVALID_FIELD",
                    f"No such column '{name}' on entity 'Opportunity'.",
                )
        rows = list(self.opportunities.values())
        if not include_deleted:
            rows = [r for r in rows if not r["IsDeleted"]]
        for condition in (match.group("where") or "").split(" AND "):
            condition = condition.strip()
            if not condition:
                continue
            since = re.match(r"^SystemModstamp >= (\S+)$", condition)
            ids = re.match(r"^Id IN \((.*)\)$", condition)
            if since:
                moment = dt.datetime.fromisoformat(since.group(1).replace("Z", "+00:00"))
                rows = [r for r in rows if r["_stamp"] >= moment]
            elif ids:
                wanted = {i.strip().strip("'") for i in ids.group(1).split(",")}
                rows = [r for r in rows if r["Id"] in wanted or r["Id"][:15] in wanted]
            else:
                return self._error("400 Bad Request", "MALFORMED_QUERY", f"unexpected: {condition}")
        if match.group("order"):
            rows.sort(key=lambda r: (r["_stamp"], r["Id"]))
        if match.group("limit"):
            rows = rows[: int(match.group("limit"))]
        return self._first_page([self._project(r, selected) for r in rows])

    def _rate(self, iso: str) -> Decimal:
        for r in self.currency_types:
            if r["IsoCode"] == iso:
                return Decimal(str(r["ConversionRate"]))
        return Decimal(1)

    def _project(self, row: dict, selected: list[str]) -> dict:
        out: dict = {
            "attributes": {
                "type": "Opportunity",
                "url": f"/services/data/v62.0/sobjects/Opportunity/{row['Id']}",
            }
        }
        for item in selected:
            if item.startswith("convertCurrency("):
                alias = item.split(")")[1].strip() or "Amount"
                amount = row.get("Amount")
                out[alias] = (
                    None
                    if amount is None
                    else float(round(Decimal(str(amount)) / self._rate(row["CurrencyIsoCode"]), 2))
                )
            elif "." in item:
                parent, child = item.split(".", 1)
                value = row.get(item)
                out[parent] = (
                    None if value is None else {"attributes": {"type": "User"}, child: value}
                )
            else:
                out[item] = row.get(item)
        return out

    def _first_page(self, records: list[dict]):
        cursor = f"01gFAKE{next(self._ids):08d}"
        self._cursors[cursor] = records
        return self._page(cursor, 0, page=1)

    def _more(self, cursor: str):
        name, _sep, offset = cursor.partition("-")
        if name not in self._cursors or not offset.isdigit():
            return self._error("400 Bad Request", "INVALID_QUERY_LOCATOR", "invalid query locator")
        start = int(offset)
        return self._page(name, start, page=start // self.page_size + 1)

    def _page(self, cursor: str, start: int, *, page: int):
        fault = self._faults.pop(page, None)
        if fault == "limit":
            return self._limit()
        if fault == "500":
            return self._error(
                "500 Server Error", "UNKNOWN_EXCEPTION", "An unexpected error occurred."
            )
        records = self._cursors[cursor]
        chunk = records[start : start + self.page_size]
        done = start + self.page_size >= len(records)
        body: dict = {"totalSize": len(records), "done": done, "records": chunk}
        if not done:
            body["nextRecordsUrl"] = (
                f"/services/data/v{self.api_version}/query/{cursor}-{start + self.page_size}"
            )
        status, headers, data = self._json("200 OK", body)
        if fault == "malformed":
            return status, headers, data[: len(data) // 2]
        if fault == "drop":
            # Promise the whole body, send half, close: the client sees the connection drop.
            return status, [*headers, ("Content-Length", str(len(data)))], data[: len(data) // 2]
        return status, headers, data


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@contextmanager
def serve(org: FakeOrg) -> Iterator[str]:
    """Serve ``org`` on 127.0.0.1 (a free port) from a thread; yields its base URL."""
    server = make_server(
        "127.0.0.1", 0, org, server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    org.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield org.base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- fixtures (import them into a test module) -------------------------------------------


@pytest.fixture
def org():
    """A single-currency fake org with pages of three records."""
    return FakeOrg(page_size=3)


@pytest.fixture
def sf_url(org):
    with serve(org) as url:
        yield url


@pytest.fixture
def connected(tenant, org, sf_url):
    """``tenant`` connected to ``org``; the test runs inside the tenant's scope."""
    from activities.services.salesforce import salesforce_connect
    from pse_crm.tenancy import tenant_scope

    with tenant_scope(tenant):
        salesforce_connect(
            tenant=tenant, instance_url=sf_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        yield tenant


# --- a process of its own (bench/salesforce_pull.py) ----------------------------------


class _Control:
    """``POST /_fake/touch?n=N``: edit N opportunities (newer SystemModstamp)."""

    def __init__(self, org: FakeOrg):
        self.org = org

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/_fake/touch":
            n = int(parse_qs(environ.get("QUERY_STRING", "")).get("n", ["100"])[0])
            with self.org._lock:
                for sf_id in list(self.org.opportunities)[:n]:
                    self.org.put(sf_id, StageName="Negotiation")
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(n).encode()]
        return self.org(environ, start_response)


def main() -> None:
    """``python -m tests.activities.fake_salesforce --records N --page-size 2000``: serve
    a single-currency org of N opportunities (200 partners, 2,000 owners) on 127.0.0.1;
    prints its URL, then serves until killed."""
    import argparse
    import random
    import sys

    from pse_crm.sfid import to_18

    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=2000)
    args = parser.parse_args()
    org = FakeOrg(page_size=args.page_size)
    rng = random.Random(7)
    stages = ["Prospecting", "Qualification", "Proposal", "Closed Won", "Closed Lost"]
    for n in range(1, args.records + 1):
        stage = rng.choice(stages)
        org.put(
            opportunity_id(n),
            Name=f"Opportunity {n}",
            Amount=round(rng.uniform(1e5, 5e7), 2),
            StageName=stage,
            IsClosed=stage.startswith("Closed"),
            IsWon=stage == "Closed Won",
            PartnerAccountId=to_18(f"001A{rng.randrange(200):011d}"),
            OwnerId=to_18(f"005A{rng.randrange(2000):011d}"),
        )
    server = make_server(
        "127.0.0.1", 0, _Control(org), server_class=_ThreadingServer, handler_class=_QuietHandler
    )
    org.base_url = f"http://127.0.0.1:{server.server_port}"
    print(org.base_url, flush=True)
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
