"""Link deals to partners and reps that arrive after their deals (connected in ready()).

A deal synced before its partner or rep is stored with the raw key; when a partner or rep
with that key is saved (one by one: ``post_save``; in bulk: ``partners_upserted`` /
``reps_upserted``), its waiting deals are linked in one set-based UPDATE.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from activities.services.deals import deal_link_unmatched
from partners.models import Partner
from partners.signals import partners_upserted
from pse_crm.models import Tenant
from pse_crm.tenancy import current_tenant_or_none, tenant_scope
from reps.models import Rep
from reps.signals import reps_upserted


def _tenant(tenant_id: int) -> Tenant:
    current = current_tenant_or_none()
    if current is not None and current.pk == tenant_id:
        return current
    return Tenant.objects.get(pk=tenant_id)


def _tenant_of(instance: Partner | Rep) -> Tenant:
    if type(instance).tenant.is_cached(instance):
        return instance.tenant
    return _tenant(instance.tenant_id)


def _link(tenant: Tenant, **ids) -> None:
    # Saves happen in requests, commands, tasks and fixtures: scope to the row's own tenant.
    with tenant_scope(tenant):
        deal_link_unmatched(tenant=tenant, **ids)


@receiver(post_save, sender=Partner, dispatch_uid="activities_link_deals_partner_saved")
def link_deals_on_partner_saved(sender, instance: Partner, raw: bool = False, **kwargs) -> None:
    if raw or not instance.external_id:
        return
    _link(_tenant_of(instance), partner_ids=[instance.pk], rep_ids=[])


@receiver(post_save, sender=Rep, dispatch_uid="activities_link_deals_rep_saved")
def link_deals_on_rep_saved(sender, instance: Rep, raw: bool = False, **kwargs) -> None:
    if raw or not (instance.salesforce_user_id or instance.email):
        return
    _link(_tenant_of(instance), partner_ids=[], rep_ids=[instance.pk])


@receiver(partners_upserted, dispatch_uid="activities_link_deals_partners_upserted")
def link_deals_on_partners_upserted(sender, tenant_id: int, ids: list[int], **kwargs) -> None:
    if ids:
        _link(_tenant(tenant_id), partner_ids=ids, rep_ids=[])


@receiver(reps_upserted, dispatch_uid="activities_link_deals_reps_upserted")
def link_deals_on_reps_upserted(sender, tenant_id: int, ids: list[int], **kwargs) -> None:
    if ids:
        _link(_tenant(tenant_id), partner_ids=[], rep_ids=ids)
