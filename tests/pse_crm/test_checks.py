"""System checks of the environment."""

from __future__ import annotations

import types

from pse_crm import checks


class _Connections:
    def __init__(self, vendor: str):
        self.settings = {"default": {}}
        self._vendor = vendor

    def __getitem__(self, alias):
        return types.SimpleNamespace(vendor=self._vendor)


def _fake_sqlite(version: tuple[int, int, int]):
    return types.SimpleNamespace(
        sqlite_version_info=version, sqlite_version=".".join(map(str, version))
    )


def test_an_old_sqlite_is_an_error(monkeypatch):
    monkeypatch.setattr(checks, "connections", _Connections("sqlite"))
    monkeypatch.setattr(checks, "sqlite3", _fake_sqlite((3, 31, 1)))
    [error] = checks.sqlite_version_check()
    assert error.id == "pse_crm.E001" and "3.31.1" in error.msg


def test_a_recent_sqlite_or_postgresql_passes(monkeypatch):
    monkeypatch.setattr(checks, "sqlite3", _fake_sqlite((3, 40, 1)))
    monkeypatch.setattr(checks, "connections", _Connections("sqlite"))
    assert checks.sqlite_version_check() == []
    monkeypatch.setattr(checks, "sqlite3", _fake_sqlite((3, 31, 1)))
    monkeypatch.setattr(checks, "connections", _Connections("postgresql"))
    assert checks.sqlite_version_check() == []
