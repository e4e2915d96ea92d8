"""The Japanese catalogue covers the messages the Python code asks for.

`makemessages` runs xgettext, which does not read inside an f-string: a message asked
for there is dropped from the catalogue at the next `makemessages` and the page shows it
in English. These tests read the code's syntax trees instead of trusting the tool.
"""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "pse_crm",
    "partners",
    "reps",
    "activities",
    "enablement",
    "segmentation",
    "knowhow",
    "support",
    "deal_signals",
    "momentum",
    "web",
)
SINGULAR = {"gettext", "gettext_lazy", "_", "gettext_noop"}
PLURAL = {"ngettext", "ngettext_lazy"}
CONTEXTUAL = {"pgettext", "pgettext_lazy"}  # (context, message): the message is second


def _sources() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    )


def _name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node) in SINGULAR | PLURAL | CONTEXTUAL:
            yield node


def test_no_message_is_asked_for_inside_an_f_string():
    found = []
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        for joined in (n for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)):
            for call in _calls(joined):
                found.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert found == [], f"a translated message inside an f-string (xgettext skips it): {found}"


def test_every_literal_message_of_the_code_has_a_japanese_translation():
    mo = ROOT / "locale" / "ja" / "LC_MESSAGES" / "django.mo"
    with mo.open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)._catalog
    singular = {key for key in catalog if isinstance(key, str)}
    plural = {key[0] for key in catalog if isinstance(key, tuple)}
    contextual = {key.split("\x04", 1)[1] for key in singular if "\x04" in key}
    missing = []
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        for call in _calls(tree):
            message = call.args[1 if _name(call) in CONTEXTUAL else 0] if call.args else None
            if isinstance(message, ast.JoinedStr | ast.BinOp) or (
                isinstance(message, ast.Call) and _name(message) == "format"
            ):
                # Formatted before translation: no catalogue can hold the result.
                missing.append(f"{path.relative_to(ROOT)}:{call.lineno} formatted message")
                continue
            if not (isinstance(message, ast.Constant) and isinstance(message.value, str)):
                continue  # a message held in a variable: looked up where it is written
            if _name(call) in CONTEXTUAL:
                if message.value not in contextual:
                    missing.append(f"{path.relative_to(ROOT)}:{call.lineno} {message.value!r}")
                continue
            first = message
            known = plural if _name(call) in PLURAL else singular
            if first.value not in known or (
                _name(call) in SINGULAR and not catalog.get(first.value)
            ):
                missing.append(f"{path.relative_to(ROOT)}:{call.lineno} {first.value!r}")
    assert missing == [], f"messages without a Japanese translation: {missing}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("f\"{_('x')}\"", ["_"]),
        ("f'{gettext(\"y\")} z'", ["gettext"]),
        ('f\'{pgettext_lazy("c", "y")}\'', ["pgettext_lazy"]),
        ("f'{n}' + _('x')", []),
    ],
)
def test_the_f_string_scan_sees_a_message_inside_one(source, expected):
    tree = ast.parse(source)
    joined = [n for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)]
    assert [_name(call) for j in joined for call in _calls(j)] == expected
