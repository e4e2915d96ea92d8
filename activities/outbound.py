"""Salesforce Outbound Messages (SOAP ``notifications``) of Opportunities, read into
``DealInput``\\s, and the SOAP answers Salesforce expects.

The message, as the outbound messaging WSDL defines it (namespace
``http://soap.sforce.com/2005/09/outbound``, inside a SOAP 1.1 ``Envelope``/``Body``)::

    <notifications>
      <OrganizationId>00D…</OrganizationId> <ActionId>04k…</ActionId>
      <SessionId xsi:nil="true"/> <EnterpriseUrl>…</EnterpriseUrl> <PartnerUrl>…</PartnerUrl>
      <Notification>                       (1 to 100 of them)
        <Id>04l…</Id>                      (the notification's id, not the record's)
        <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
          <sf:Id>006…</sf:Id> <sf:Amount>1200000.0</sf:Amount> …
        </sObject>
      </Notification>
    </notifications>

An sObject carries only the fields the admin picked for the message: every other field is
absent (the stored value stays, the partial-record rule). ``xsi:nil="true"`` and an
empty element are present and empty, as is a field named in ``fieldsToNull``. A child
element with elements of its own (a relationship) reads as a nested record, so a dotted
partner or rep field (``Owner.Email``) finds it.

Salesforce treats a message as delivered only on ``<Ack>true</Ack>``, and otherwise sends it
again (for up to 24 hours): ``ack()`` is answered only once the records are committed, and
``fault()`` (HTTP 500) for anything else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from xml.etree.ElementTree import Element

from django.utils.html import escape
from django.utils.translation import gettext as _

from activities.deal_inputs import (
    DealInput,
    DealRecordError,
    read_deal_record,
    salesforce_fields,
)

__all__ = [
    "OutboundMessage",
    "OutboundMessageInvalid",
    "ack",
    "errors_text",
    "fault",
    "outbound_message_read",
]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SOBJECT = "urn:sobject.enterprise.soap.sforce.com"
MAX_NOTIFICATIONS = 100  # the WSDL's maxOccurs
# sObject > relationship > its fields: deeper nesting is not something Salesforce sends.
_MAX_FIELD_DEPTH = 3


class OutboundMessageInvalid(Exception):
    """The message is not an Opportunity ``notifications`` message, or (``records``) some of
    its records are bad. ``errors`` as in ``DealInputInvalid``, ``row`` being the 0-based
    index of the ``Notification``; ``notification_ids`` the ids read, by index."""

    def __init__(
        self,
        errors: Sequence[DealRecordError],
        notification_ids: Sequence[str] = (),
        *,
        records: bool = False,
    ):
        self.errors = list(errors)
        self.notification_ids = list(notification_ids)
        self.records = records
        super().__init__(errors_text(self.errors, self.notification_ids))


class OutboundMessage:
    """What one message said: the org, and the deals of its notifications, in order."""

    __slots__ = ("deals", "notification_ids", "organization_id")

    def __init__(self, organization_id: str, notification_ids: list[str], deals: list[DealInput]):
        self.organization_id = organization_id
        self.notification_ids = notification_ids
        self.deals = deals


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _ns(tag: Any) -> str:
    return tag[1:].partition("}")[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _is_nil(element: Element) -> bool:
    return element.get(f"{{{XSI}}}nil", "").strip().lower() in ("true", "1")


def _child(parent: Element, name: str, namespace: str = OUTBOUND) -> Element | None:
    return parent.find(f"{{{namespace}}}{name}")


def _text(element: Element | None) -> str:
    if element is None or _is_nil(element):
        return ""
    return (element.text or "").strip()


def _fields(element: Element, depth: int, row: int, errors: list[DealRecordError]) -> dict:
    """An sObject (or a relationship inside one) as a record: field name -> text or record."""
    record: dict[str, Any] = {}
    nulls: list[str] = []
    for child in element:
        name = _local(child.tag)
        if not name:
            continue  # a comment or processing instruction
        if name == "fieldsToNull":
            nulls.append((child.text or "").strip())
            continue
        if name in record:
            errors.append(DealRecordError(row, name, _("This field appears twice.")))
            continue
        if _is_nil(child):
            record[name] = ""
        elif len(child):
            if depth >= _MAX_FIELD_DEPTH:
                errors.append(DealRecordError(row, name, _("Nested too deeply.")))
                continue
            record[name] = _fields(child, depth + 1, row, errors)
        else:
            record[name] = child.text or ""
    for name in nulls:
        if name:
            record.setdefault(name, "")
    return record


def _notifications(root: Element) -> Element:
    """The ``notifications`` element of a SOAP envelope (or given bare)."""
    if root.tag == f"{{{OUTBOUND}}}notifications":
        return root
    body = _child(root, "Body", SOAP_ENV) if root.tag == f"{{{SOAP_ENV}}}Envelope" else None
    found = _child(body, "notifications") if body is not None else None
    if found is None:
        raise OutboundMessageInvalid(
            [
                DealRecordError(
                    0,
                    "notifications",
                    _(
                        "Expected a SOAP envelope with the notifications of a Salesforce "
                        "outbound message."
                    ),
                )
            ]
        )
    return found


def outbound_message_read(
    root: Element, *, partner_field: str, rep_field: str, rep_match: str
) -> OutboundMessage:
    """Read an Outbound Message of Opportunities (the parsed XML's root).

    Raises ``OutboundMessageInvalid`` when it is not one, or naming every bad record
    (``records``; another object than an Opportunity included).
    """
    notifications = _notifications(root)
    items = notifications.findall(f"{{{OUTBOUND}}}Notification")
    if not items:
        raise OutboundMessageInvalid(
            [DealRecordError(0, "Notification", _("The message holds no notification."))]
        )
    if len(items) > MAX_NOTIFICATIONS:
        raise OutboundMessageInvalid(
            [
                DealRecordError(
                    MAX_NOTIFICATIONS,
                    "Notification",
                    _("A message holds at most %(n)d notifications.") % {"n": MAX_NOTIFICATIONS},
                )
            ]
        )
    fields = salesforce_fields(partner_field, rep_field, rep_match)
    errors: list[DealRecordError] = []
    deals: list[DealInput] = []
    ids: list[str] = []
    for row, item in enumerate(items):
        ids.append(_text(_child(item, "Id")))
        sobject = _child(item, "sObject")
        if sobject is None:
            errors.append(DealRecordError(row, "sObject", _("This field is required.")))
            continue
        kind = sobject.get(f"{{{XSI}}}type", "").rpartition(":")[2]
        if kind != "Opportunity":
            errors.append(
                DealRecordError(
                    row,
                    "sObject",
                    _("Expected an Opportunity, not %(type)s.") % {"type": kind or "?"},
                )
            )
            continue
        if any(_ns(child.tag) not in (SOBJECT, "") for child in sobject if _local(child.tag)):
            errors.append(
                DealRecordError(row, "sObject", _("Unexpected fields outside the sObject."))
            )
            continue
        before = len(errors)
        record = _fields(sobject, 1, row, errors)
        if len(errors) > before:
            continue
        deal = read_deal_record(row, record, fields, text=True, errors=errors)
        if deal is not None:
            deals.append(deal)
    if errors:
        raise OutboundMessageInvalid(errors, ids, records=True)
    return OutboundMessage(_text(_child(notifications, "OrganizationId")), ids, deals)


def errors_text(errors: Sequence[DealRecordError], notification_ids: Sequence[str] = ()) -> str:
    """The problems, one a line, each naming its notification (index and id when known)."""
    lines = []
    for error in errors:
        if error.field == "notifications":  # the message itself, not one notification
            lines.append(error.message)
            continue
        where = f"Notification {error.row}"
        if 0 <= error.row < len(notification_ids) and notification_ids[error.row]:
            where += f" ({notification_ids[error.row]})"
        field = f" {error.field}:" if error.field else ""
        lines.append(f"{where}:{field} {error.message}")
    return "\n".join(lines)


# Characters XML 1.0 cannot carry: never in a fault, whatever a message quoted.
_XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>{{}}</soapenv:Body>'
    "</soapenv:Envelope>"
)


def ack() -> bytes:
    """The acknowledgement Salesforce waits for: ``notificationsResponse`` / ``Ack`` true."""
    return _ENVELOPE.format(
        f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>true</Ack></notificationsResponse>'
    ).encode()


def fault(message: str, *, client: bool = False) -> bytes:
    """A SOAP 1.1 fault (``soapenv:Client`` for the sender's mistake, else ``Server``)."""
    code = "soapenv:Client" if client else "soapenv:Server"
    message = _XML_UNSAFE.sub("", message)
    return _ENVELOPE.format(
        f"<soapenv:Fault><faultcode>{code}</faultcode>"
        f"<faultstring>{escape(message)}</faultstring></soapenv:Fault>"
    ).encode()
