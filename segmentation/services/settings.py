"""The tenant's segmentation settings. Runs already made keep the settings they used."""

from __future__ import annotations

from pse_crm.models import Tenant, User
from segmentation.models import SegmentationSettings
from segmentation.selectors import segmentation_settings_get

__all__ = ["segmentation_settings_update"]


def segmentation_settings_update(
    *, tenant: Tenant, user: User | None = None, **values: object
) -> SegmentationSettings:
    """Save the tenant's segmentation settings (creating the row on first save).

    Guarantees: the row is validated (``full_clean``) before it is written, so an invalid
    value raises ``ValidationError`` and nothing changes. Only fields of the model are
    accepted. Runs already made keep the settings they were computed with.
    """
    obj = segmentation_settings_get(tenant=tenant)
    allowed = {f.name for f in SegmentationSettings._meta.get_fields() if f.concrete} - {
        "id",
        "tenant",
        "updated_at",
        "updated_by",
    }
    unknown = set(values) - allowed
    if unknown:
        raise TypeError(f"unknown settings: {sorted(unknown)}")
    for name, value in values.items():
        setattr(obj, name, value)
    obj.updated_by = user
    obj.full_clean(exclude=["tenant"], validate_constraints=False)
    obj.save()
    return obj
