"""Admin: tenant staff see and edit only their tenant's rows; superusers see every tenant.

The middleware enters the request's tenant scope, so the scoped default managers filter
every admin queryset, related-field choice and list filter to that tenant. A superuser's
admin requests run with the tenant wall lifted (see TenantMiddleware).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.http import HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from pse_crm import roles
from pse_crm.models import Membership, Tenant, TenantAPIKey, User
from pse_crm.permissions import request_role
from pse_crm.services.memberships import (
    membership_add,
    membership_delete,
    membership_role_change,
)


def admin_role_ok(request, capability: frozenset[str] = roles.MANAGE) -> bool:
    """A superuser, or active staff whose role in the request's tenant allows ``capability``."""
    if request.user.is_superuser:
        return True
    return (
        request.user.is_active
        and request.user.is_staff
        and roles.role_allows(request_role(request), capability)
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
        if request.user.is_superuser and obj is None:
            # The model's tenant is not editable: the fieldsets name it, but the model
            # form must not (it is the extra field added below).
            if "fields" in kwargs:
                fields = kwargs["fields"]
            else:
                fields = flatten_fieldsets(self.get_fieldsets(request, obj))
            if fields is not None:
                kwargs["fields"] = [f for f in fields if f != "tenant"]
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


class ServiceRefusalsAdminMixin:
    """A service's ValidationError (a membership rule, say) becomes an error message on
    the page it came from, instead of a server error.

    It is caught outside the view's transaction, so everything the view did (the change,
    its log entry) is rolled back first.
    """

    def _refused(self, request, error: ValidationError) -> HttpResponseRedirect:
        self.message_user(request, " ".join(error.messages), messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            return self._refused(request, error)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as error:
            return self._refused(request, error)

    def response_action(self, request, queryset):
        # Django runs actions ("delete selected") outside a transaction: one here, so a
        # refused row undoes the whole action and its log entries.
        try:
            with transaction.atomic(using=router.db_for_write(self.model)):
                return super().response_action(request, queryset)
        except ValidationError as error:
            return self._refused(request, error)


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
class MembershipAdmin(ServiceRefusalsAdminMixin, TenantOwnedAdmin):
    """Memberships are written through the membership services only, so the admin keeps
    the rules the settings page keeps (a tenant keeps an active owner)."""

    list_display = ("user", "role", "is_active", "created_at")
    list_filter = ("role", "is_active")
    search_fields = ("user__email",)
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)

    def has_module_permission(self, request):
        return request.user.is_superuser or self._is_owner(request)

    def _is_owner(self, request) -> bool:
        return request.user.is_staff and request_role(request) == roles.Role.OWNER

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    has_change_permission = has_delete_permission = lambda self, request, obj=None: (
        self.has_module_permission(request)
    )

    def has_add_permission(self, request):
        # Owners invite members on Settings → Members (by email, with a role); here they
        # change roles only. Superusers may add any user to any tenant.
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "user") if obj is not None else readonly

    def save_model(self, request, obj, form, change):
        if change:
            membership_role_change(membership=obj, role=obj.role, is_active=obj.is_active)
            return
        tenant = form.cleaned_data.get("tenant") or request.tenant
        saved = membership_add(
            tenant=tenant, email=obj.user.email, role=obj.role, is_active=obj.is_active
        )
        # The admin goes on with its own instance (its log entry and redirect read obj.pk).
        vars(obj).update(vars(saved))

    def delete_model(self, request, obj):
        membership_delete(membership=obj)

    def delete_queryset(self, request, queryset):
        # One by one, each through the rule; a refusal undoes them all (one transaction).
        with transaction.atomic(using=router.db_for_write(self.model)):
            _memberships_delete(queryset)


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
        return request.user.is_superuser or (
            request.user.is_staff and request_role(request) == roles.Role.OWNER
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
class UserAdmin(ServiceRefusalsAdminMixin, DjangoUserAdmin):
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
            request_role(request) == roles.Role.OWNER and request.user.is_staff
        )

    def delete_model(self, request, obj):
        # Deleting a user deletes their memberships: each goes through the rule first,
        # so the last active owner of a tenant cannot be deleted from here either.
        with transaction.atomic(using=router.db_for_write(self.model)):
            _memberships_delete(Membership.objects.filter(user=obj))
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic(using=router.db_for_write(self.model)):
            _memberships_delete(Membership.objects.filter(user__in=queryset))
            super().delete_queryset(request, queryset)


def _memberships_delete(memberships) -> None:
    for membership in memberships.order_by("tenant_id", "pk"):
        membership_delete(membership=membership)


class ReadOnlyTenantAdmin(TenantOwnedAdmin):
    """Computed by the segmentation run: readable history, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
