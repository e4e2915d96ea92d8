"""Admin: tenant staff see and edit only their tenant's rows; superusers see every tenant.

The middleware enters the request's tenant scope, so the scoped default managers filter
every admin queryset, related-field choice and list filter to that tenant. A superuser's
admin requests run with the tenant wall lifted (see TenantMiddleware).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from pse_crm import roles
from pse_crm.models import Membership, Tenant, TenantAPIKey, User


def admin_role_ok(request, capability: frozenset[str] = roles.MANAGE) -> bool:
    """A superuser, or active staff whose role in the request's tenant allows ``capability``."""
    if request.user.is_superuser:
        return True
    membership = getattr(request, "membership", None)
    return (
        request.user.is_active
        and request.user.is_staff
        and membership is not None
        and roles.role_allows(membership.role, capability)
    )


def tenant_members(request):
    """The active tenant's active members (none without a tenant)."""
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return User.objects.none()
    return User.objects.filter(memberships__tenant=tenant, memberships__is_active=True).distinct()


class TenantOwnedAdmin(admin.ModelAdmin):
    """Base for every tenant-owned model's admin."""

    superuser_list_display = ("tenant",)

    def get_list_display(self, request):
        base = tuple(super().get_list_display(request))
        return base + self.superuser_list_display if request.user.is_superuser else base

    def get_list_filter(self, request):
        base = tuple(super().get_list_filter(request))
        return (*base, "tenant") if request.user.is_superuser else base

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if request.user.is_superuser and obj is None:
            # Superusers act across tenants, so a new row needs its tenant named.
            form = type(
                form.__name__,
                (form,),
                {
                    "tenant": forms.ModelChoiceField(
                        queryset=Tenant.objects.all(), label=_("tenant")
                    )
                },
            )
        return form

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser and obj is None:
            fieldsets = [(None, {"fields": ["tenant"]}), *fieldsets]
        return fieldsets

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # Users are not tenant-owned: offer (and accept) only this tenant's active members,
        # so no form can attach, or reveal, another tenant's user.
        if db_field.related_model is User and not request.user.is_superuser:
            kwargs["queryset"] = tenant_members(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if obj.tenant_id is None:
            obj.tenant = form.cleaned_data.get("tenant") or request.tenant
        super().save_model(request, obj, form, change)

    def has_module_permission(self, request):
        return admin_role_ok(request)

    def has_view_permission(self, request, obj=None):
        return admin_role_ok(request)

    def has_add_permission(self, request):
        return admin_role_ok(request)

    def has_change_permission(self, request, obj=None):
        return admin_role_ok(request)

    def has_delete_permission(self, request, obj=None):
        return admin_role_ok(request)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "timezone", "is_active", "created_at")
    search_fields = ("name", "slug")
    list_filter = ("is_active",)
    readonly_fields = ("created_at",)

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(TenantOwnedAdmin):
    list_display = ("user", "role", "is_active", "created_at")
    list_filter = ("role", "is_active")
    search_fields = ("user__email",)
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)

    def has_module_permission(self, request):
        return request.user.is_superuser or self._is_owner(request)

    def _is_owner(self, request) -> bool:
        m = getattr(request, "membership", None)
        return request.user.is_staff and m is not None and m.role == roles.Role.OWNER

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    has_change_permission = has_delete_permission = lambda self, request, obj=None: (
        self.has_module_permission(request)
    )

    def has_add_permission(self, request):
        # Owners add members on Settings → Members (by email, with a role); here they
        # change roles only. Superusers may add any user to any tenant.
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "user") if obj is not None else readonly


@admin.register(TenantAPIKey)
class TenantAPIKeyAdmin(admin.ModelAdmin):
    """Owners create and revoke their tenant's keys; the key is shown once, after saving."""

    list_display = ("name", "prefix", "created", "last_used_at", "revoked", "expiry_date")
    list_filter = ("revoked",)
    search_fields = ("name", "prefix")
    readonly_fields = ("prefix", "created", "last_used_at")
    fields = ("name", "expiry_date", "revoked", "prefix", "created", "last_used_at")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(tenant=request.tenant) if request.tenant else qs.none()

    def _is_owner(self, request) -> bool:
        m = getattr(request, "membership", None)
        return request.user.is_superuser or (
            request.user.is_staff and m is not None and m.role == roles.Role.OWNER
        )

    def has_module_permission(self, request):
        return self._is_owner(request)

    has_view_permission = has_change_permission = has_delete_permission = (
        lambda self, request, obj=None: self._is_owner(request)
    )

    def has_add_permission(self, request):
        return self._is_owner(request) and request.tenant is not None

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        obj.tenant = request.tenant
        key = TenantAPIKey.objects.assign_key(obj)
        obj.save()
        self.message_user(
            request,
            # The key last, alone after the colon: nothing glued to it when it is copied.
            _("API key for %(name)s (copy it now: it will not be shown again): %(key)s")
            % {"name": obj.name, "key": key},
        )


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "is_staff", "is_active")
    search_fields = ("email", "first_name", "last_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        # Tenant owners see the users of their tenant only.
        return (
            qs.filter(memberships__tenant=request.tenant).distinct()
            if request.tenant
            else qs.none()
        )

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or (
            getattr(request, "membership", None) is not None
            and request.membership.role == roles.Role.OWNER
            and request.user.is_staff
        )


class ReadOnlyTenantAdmin(TenantOwnedAdmin):
    """Computed by the segmentation run: readable history, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
