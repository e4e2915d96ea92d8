"""Template filters and tags of the combined pages."""

from __future__ import annotations

from html import escape

from django import template
from django.urls import reverse
from django.utils.formats import date_format, localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import gettext, ngettext

register = template.Library()


@register.filter
def breakable(value) -> SafeString:
    """A long figure that may wrap after its group separators (``<wbr>``), so that a large
    amount wraps inside a narrow card instead of overflowing it."""
    text = str(conditional_escape(value))
    return mark_safe(text.replace(",", ",<wbr>"))  # noqa: S308 (escaped above)


@register.simple_tag
def playbook_candidates(candidates: list[dict]) -> SafeString:
    """A flagged partner's candidates as the playbook lists them, one ``<li>`` each: the
    rep, their views and last view, an open task. Drawn in Python, each value escaped as
    the template escaped it, with the template's messages (the same msgids): the template
    loop cost a twentieth of the dashboard for 25 candidates."""
    marker = 987654321
    head, _marker, tail = reverse("rep-detail", args=[marker]).partition(str(marker))
    head, tail = escape(head), escape(tail)
    # Outside the f-string: xgettext does not read inside one.
    open_task = escape(gettext("open task"))
    badge = f' <span class="badge s-open">{open_task}</span>'
    items = []
    for c in candidates:
        rep, views, last = c["rep"], c["views"], c["last_viewed_at"]
        # As {% blocktranslate count n=... with last=...|date:"SHORT_DATE_FORMAT" %}.
        shown = "" if last is None else date_format(template_localtime(last), "SHORT_DATE_FORMAT")
        text = ngettext("%(n)s view, last %(last)s", "%(n)s views, last %(last)s", views) % {
            "n": escape(str(localize(views))),
            "last": escape(shown),
        }
        pk = escape(str(localize(rep.pk)))
        items.append(
            f'<li data-rep="{pk}"><a href="{head}{int(rep.pk)}{tail}">{escape(rep.name)}</a>'
            f' <span class="small muted">{text}</span>{badge if c["has_open_task"] else ""}</li>'
        )
    return mark_safe("".join(items))  # noqa: S308 (every value escaped above)
