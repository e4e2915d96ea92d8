"""The tenant's segmentation settings: validated before they are saved."""

from __future__ import annotations

from decimal import Decimal

import pytest

from segmentation.services.settings import segmentation_settings_update


def test_settings_are_validated(in_tenant):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as err:
        segmentation_settings_update(tenant=in_tenant, view_window_days=0)
    assert "view_window_days" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        segmentation_settings_update(tenant=in_tenant, results_window_days=4000)
    assert "results_window_days" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        segmentation_settings_update(
            tenant=in_tenant,
            results_measure="won_deals",
            results_high_rule="threshold",
            results_threshold=Decimal("1.5"),
        )
    assert "results_threshold" in err.value.message_dict
    saved = segmentation_settings_update(tenant=in_tenant, view_window_days=30)
    assert saved.pk and saved.view_window_days == 30 and saved.results_window_days == 365
