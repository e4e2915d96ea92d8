import pytest
from django.urls import reverse

from pse_crm.middleware import SESSION_KEY
from pse_crm.roles import Role
from tests.factories import MembershipFactory, TenantFactory, UserFactory


@pytest.mark.django_db
def test_dashboard_shows_the_users_tenant(manager_client, tenant, other_tenant):
    response = manager_client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert response.context["active_tenant"] == tenant
    assert tenant.name in response.content.decode()
    assert other_tenant.name not in response.content.decode()


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.django_db
def test_user_without_membership_gets_403(client):
    client.force_login(UserFactory())
    assert client.get(reverse("dashboard")).status_code == 403


@pytest.mark.django_db
def test_inactive_membership_gives_no_tenant(client, tenant):
    m = MembershipFactory(tenant=tenant, is_active=False)
    client.force_login(m.user)
    assert client.get(reverse("dashboard")).status_code == 403


@pytest.mark.django_db
def test_switch_between_own_tenants(client, tenant, other_tenant):
    user = UserFactory()
    MembershipFactory(tenant=tenant, user=user, role=Role.MANAGER)
    MembershipFactory(tenant=other_tenant, user=user, role=Role.VIEWER)
    client.force_login(user)
    first = client.get(reverse("dashboard")).context["active_tenant"]
    target = other_tenant if first == tenant else tenant
    response = client.post(reverse("switch-tenant"), {"tenant": target.pk, "next": "/"})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == target.pk
    assert client.get(reverse("dashboard")).context["active_tenant"] == target


@pytest.mark.django_db
def test_cannot_switch_to_a_tenant_without_membership(manager_client, tenant):
    stranger = TenantFactory(slug="stranger")
    response = manager_client.post(reverse("switch-tenant"), {"tenant": stranger.pk})
    assert response.status_code == 404
    assert manager_client.get(reverse("dashboard")).context["active_tenant"] == tenant


@pytest.mark.django_db
def test_stale_session_tenant_falls_back_to_a_membership(manager_client, tenant, other_tenant):
    session = manager_client.session
    session[SESSION_KEY] = other_tenant.pk  # e.g. membership removed since
    session.save()
    assert manager_client.get(reverse("dashboard")).context["active_tenant"] == tenant


@pytest.mark.django_db
def test_login_page_logs_in_by_email(client, tenant):
    user = MembershipFactory(tenant=tenant).user
    response = client.post(reverse("login"), {"username": user.email, "password": "pw-for-tests"})
    assert response.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200
