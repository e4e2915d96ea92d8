"""The demo smoke test: the `make demo` path on whatever database is configured.

`make test` runs it twice: on PostgreSQL with the suite, and alone on SQLite with
in-process tasks (the demo's embedded default).
"""

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

pytestmark = [pytest.mark.demo, pytest.mark.django_db(transaction=True)]


def test_demo_setup_then_log_in_and_see_the_dashboard():
    call_command("create_tenant", slug="demo", name="Demo Vendor KK")
    call_command(
        "create_user", tenant="demo", email="manager@demo.example", role="manager", password="pw"
    )
    client = Client()
    response = client.post(reverse("login"), {"username": "manager@demo.example", "password": "pw"})
    assert response.status_code == 302
    page = client.get(reverse("dashboard"))
    assert page.status_code == 200
    assert "Demo Vendor KK" in page.content.decode()


def test_demo_data_seeds_once_and_the_admin_shows_it(capsys):
    """`make demo-data` seeds the demo tenant; running it again changes nothing."""
    call_command("create_tenant", slug="demo", name="Demo Vendor KK")
    call_command(
        "create_user",
        tenant="demo",
        email="owner@demo.example",
        role="owner",
        password="pw",
        staff=True,
    )
    call_command("seed_demo", tenant="demo", partners=5, reps=200, views=5000, verbosity=0)
    call_command("seed_demo", tenant="demo", partners=5, reps=200, views=5000)
    assert "already has data (5 partners, 200 reps" in capsys.readouterr().out
    client = Client()
    client.post(reverse("login"), {"username": "owner@demo.example", "password": "pw"})
    for name in ("partners_partner", "reps_rep", "activities_materialview", "activities_deal"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
