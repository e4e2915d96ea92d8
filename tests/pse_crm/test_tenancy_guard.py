"""The escape hatches out of the tenant wall appear only where they are allowed."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Where each escape hatch may appear, and why.
ALLOWED = {
    # django-scopes' own switches: wrapped once, as all_tenants().
    "scopes_disabled": {"pse_crm/tenancy.py"},
    "with_scopes_disabled": set(),
    # The loud one: superuser admin (middleware), cross-tenant maintenance tasks and
    # commands, and this guard. Add a file here only with a reason in its commit.
    "all_tenants(": {
        "pse_crm/tenancy.py",
        "pse_crm/middleware.py",
        "pse_crm/management/commands/delete_tenant.py",
    },
}


def _files_using(needle: str) -> set[str]:
    out = subprocess.run(
        ["git", "grep", "-l", "-F", needle, "--", "*.py", ":!tests/*", ":!bench/*"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return {line for line in out.stdout.splitlines() if line}


def test_escape_hatches_only_where_allowed():
    for needle, allowed in ALLOWED.items():
        used = _files_using(needle)
        assert used <= allowed, (
            f"{needle!r} used outside its allowed files: {sorted(used - allowed)}"
        )
