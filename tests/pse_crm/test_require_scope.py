"""Services and selectors take the tenant as ``tenant=`` and check it is the one in scope.

``require_scope`` is the one check. A service handed another tenant than the scope's would
read the scope's rows and write or compute for the given tenant, so it must refuse before
anything is read or written.
"""

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from django.utils import timezone

from deal_signals.selectors import signal_rules_get
from knowhow.models import Hearing, KnowHow, KnowHowShare
from knowhow.selectors import know_how_reach
from knowhow.services import (
    hearing_create,
    hearing_update,
    know_how_create,
    know_how_share,
    know_how_update,
)
from momentum.models import MomentumSnapshot
from momentum.selectors import momentum_indicators, momentum_snapshots
from momentum.services import momentum_backfill, momentum_build, momentum_build_current
from pse_crm.roles import Role
from pse_crm.tenancy import TenantScopeError, all_tenants, require_scope, tenant_scope
from support.models import QuickWin, SupportTask
from support.services.quick_wins import quick_wins_compute
from support.services.support_tasks import (
    support_task_bulk_create,
    support_task_create,
    support_task_update,
)
from tests.knowhow.factories import HearingFactory, KnowHowFactory
from tests.reps.factories import RepFactory
from tests.support.factories import SupportTaskFactory

ROOT = Path(__file__).resolve().parents[2]
WRITTEN = (Hearing, KnowHow, KnowHowShare, SupportTask, QuickWin, MomentumSnapshot)


def test_require_scope_accepts_only_the_tenant_in_scope(tenant, other_tenant):
    with tenant_scope(tenant):
        assert require_scope(tenant) is tenant
        with pytest.raises(TenantScopeError, match="not the tenant in scope"):
            require_scope(other_tenant)
        with all_tenants(), pytest.raises(TenantScopeError, match="no tenant is"):
            require_scope(tenant)
    with pytest.raises(TenantScopeError, match="no tenant is"):
        require_scope(tenant)


def _today():
    return timezone.localdate()


# Every service and selector that used to read current_tenant(), called with ``t``.
CALLS = {
    "hearing_create": lambda t, w: hearing_create(
        tenant=t, rep=w["rep"], held_by=w["staff"], held_on=_today()
    ),
    "hearing_update": lambda t, w: hearing_update(tenant=t, hearing=w["hearing"], notes="x"),
    "know_how_create": lambda t, w: know_how_create(
        tenant=t, title="t", body="b", hearings=[w["hearing"]], created_by=w["staff"]
    ),
    "know_how_update": lambda t, w: know_how_update(tenant=t, know_how=w["know_how"], title="x"),
    "know_how_share": lambda t, w: know_how_share(
        tenant=t, know_how=w["know_how"], rep=w["rep"], shared_by=w["staff"]
    ),
    "support_task_create": lambda t, w: support_task_create(
        tenant=t,
        rep=w["rep"],
        kind=SupportTask.Kind.ACCOMPANY,
        assignee=w["staff"],
        assigned_by=w["manager"],
        due_on=_today() + dt.timedelta(days=5),
    ),
    "support_task_bulk_create": lambda t, w: support_task_bulk_create(
        tenant=t,
        reps=[w["rep"]],
        kind=SupportTask.Kind.ACCOMPANY,
        assignee=w["staff"],
        assigned_by=w["manager"],
        due_on=_today() + dt.timedelta(days=5),
    ),
    "support_task_update": lambda t, w: support_task_update(
        tenant=t, task=w["task"], by=w["manager"], role=Role.MANAGER, title="x"
    ),
    "quick_wins_compute": lambda t, w: quick_wins_compute(tenant=t),
    "momentum_build": lambda t, w: momentum_build(tenant=t, mondays=[_today()]),
    "momentum_build_current": lambda t, w: momentum_build_current(tenant=t),
    "momentum_backfill": lambda t, w: momentum_backfill(tenant=t, weeks=1, segment_weeks=False),
    "signal_rules_get": lambda t, w: signal_rules_get(tenant=t),
    "know_how_reach": lambda t, w: know_how_reach(tenant=t),
    "momentum_snapshots": lambda t, w: momentum_snapshots(tenant=t),
    "momentum_indicators": lambda t, w: momentum_indicators(tenant=t),
}


@pytest.fixture
def world(tenant, staff, manager):
    rep = RepFactory(partner__tenant=tenant)
    task = SupportTaskFactory(
        rep=rep,
        assignee=staff,
        assigned_by=manager,
        status=SupportTask.Status.IN_PROGRESS,
        started_at=timezone.now(),
    )
    return {
        "rep": rep,
        "staff": staff,
        "manager": manager,
        "hearing": HearingFactory(rep=rep),
        "know_how": KnowHowFactory(tenant=tenant),
        "task": task,
    }


def _stored():
    with all_tenants():
        return {model.__name__: list(model.objects.values()) for model in WRITTEN}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_another_tenant_than_the_scope_is_refused_and_nothing_written(
    name, tenant, other_tenant, world
):
    before = _stored()
    with tenant_scope(tenant), pytest.raises(TenantScopeError):
        CALLS[name](other_tenant, world)
    with pytest.raises(TenantScopeError):  # no scope at all
        CALLS[name](tenant, world)
    assert _stored() == before


def test_no_service_or_selector_reads_the_tenant_from_the_scope():
    """The rule, held: the tenant is an argument, never ``current_tenant()``."""
    out = subprocess.run(
        [
            "git",
            "grep",
            "--untracked",
            "-n",
            "-F",
            "current_tenant(",
            "--",
            "*/services.py",
            "*/services/*.py",
            "*/selectors.py",
            "*/selectors/*.py",
            ":!tests/*",
            ":!bench/*",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode in (0, 1), out.stderr  # 1: no match
    assert out.stdout == ""
