import pytest
from django.core.management import CommandError, call_command

from pse_crm.models import Membership, Tenant, User
from pse_crm.tenancy import tenant_scope


@pytest.mark.django_db
def test_create_tenant_is_idempotent():
    call_command("create_tenant", slug="acme", name="Acme")
    call_command("create_tenant", slug="acme", name="Acme")
    assert Tenant.objects.filter(slug="acme").count() == 1


@pytest.mark.django_db
def test_create_tenant_duplicate_slug_other_name_fails():
    call_command("create_tenant", slug="acme", name="Acme")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_tenant", slug="acme", name="Another")


@pytest.mark.django_db
@pytest.mark.parametrize("slug", ["has space", "", "ü?"])
def test_create_tenant_bad_slug(slug):
    with pytest.raises(CommandError):
        call_command("create_tenant", slug=slug, name="X")
    assert not Tenant.objects.exists()


@pytest.mark.django_db
def test_create_tenant_bad_timezone():
    with pytest.raises(CommandError, match="time zone"):
        call_command("create_tenant", slug="acme", name="Acme", timezone="Mars/Base")


@pytest.mark.django_db
def test_create_user_and_idempotent_role_change(tenant):
    call_command("create_user", tenant="acme", email="A@Example.com", role="staff", password="pw")
    call_command("create_user", tenant="acme", email="a@example.com", role="staff")
    call_command("create_user", tenant="acme", email="a@example.com", role="manager")
    user = User.objects.get(email="a@example.com")
    assert user.check_password("pw")
    with tenant_scope(tenant):
        assert list(Membership.objects.values_list("role", flat=True)) == ["manager"]


@pytest.mark.django_db
def test_create_user_unknown_tenant():
    with pytest.raises(CommandError, match="Unknown tenant"):
        call_command("create_user", tenant="nope", email="a@example.com", role="staff")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_create_user_bad_role(tenant):
    with pytest.raises(CommandError, match="Unknown role"):
        call_command("create_user", tenant="acme", email="a@example.com", role="boss")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_create_user_bad_email(tenant):
    with pytest.raises(CommandError, match="valid email"):
        call_command("create_user", tenant="acme", email="not-an-email", role="staff")


@pytest.mark.django_db
def test_a_deactivated_tenant_is_refused_except_for_export_and_removal(tenant, tmp_path):
    tenant.is_active = False
    tenant.save(update_fields=["is_active"])
    with pytest.raises(CommandError, match="deactivated"):
        call_command("create_user", tenant="acme", email="a@example.com", role="staff")
    with pytest.raises(CommandError, match="deactivated"):
        call_command("create_api_key", tenant="acme", name="sync")
    out = tmp_path / "acme.zip"
    call_command("export_tenant", tenant="acme", out=str(out))
    assert out.stat().st_size > 0
