"""The ways past or around the tenant wall appear only where they are allowed.

Each list below is exact: a new file using a hatch fails, and so does an entry whose file
no longer uses it (a stale entry would quietly allow the next use). Add a file only with
a reason on its line.
"""

import subprocess
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

COMMAND = "management command: enters the tenant named by --tenant"

# needle -> {file: why it may appear there}
ALLOWED: dict[str, dict[str, str]] = {
    # django-scopes' own switches: wrapped once, as all_tenants().
    "scopes_disabled": {"pse_crm/tenancy.py": "wrapped once, as all_tenants()"},
    "with_scopes_disabled": {},
    # The loud one: superuser admin and cross-tenant maintenance.
    "all_tenants(": {
        "pse_crm/tenancy.py": "defines it",
        "pse_crm/middleware.py": "a superuser's admin sees every tenant",
        "pse_crm/management/commands/delete_tenant.py": "deletes a tenant and orphan users",
        "activities/tasks.py": (
            "the Salesforce fan-outs (which active tenants are connected) and the roll-up "
            "fold's (which tenants are active)"
        ),
    },
    # Entering a tenant: the request middleware / API base class, the Celery task base,
    # management commands, and the few places that must enter it again.
    "tenant_scope(": {
        "pse_crm/tenancy.py": "defines it",
        "pse_crm/middleware.py": "a page request: the session membership's tenant",
        "pse_crm/api/viewsets.py": "an API request: the key's or the session's tenant",
        "pse_crm/tasks.py": "the Celery task base: the task's tenant id",
        "activities/management/commands/rebuild_view_rollups.py": COMMAND,
        "activities/management/commands/seed_demo.py": COMMAND,
        "activities/management/commands/salesforce_connect.py": COMMAND,
        "activities/management/commands/salesforce_pull.py": COMMAND,
        "activities/management/commands/salesforce_reconcile.py": COMMAND,
        "knowhow/management/commands/measure_know_how_effect.py": COMMAND,
        "momentum/management/commands/backfill_momentum.py": COMMAND,
        "pse_crm/management/commands/create_user.py": COMMAND,
        "pse_crm/services/invitations.py": (
            "an invitation link is opened before any login: the tenant its signed token names"
        ),
        "segmentation/management/commands/recompute_segments.py": COMMAND,
        "web/management/commands/seed_enablement_demo.py": COMMAND,
        "web/management/commands/import_partner_totals.py": COMMAND,
        "pse_crm/tenant_data.py": (
            "export/import/delete behind the *_tenant commands; import creates the tenant "
            "before it can be entered"
        ),
        "activities/receivers.py": (
            "post_save of a partner or rep (admin, fixtures, commands): the row's own tenant"
        ),
        "activities/services/material_views.py": (
            "ingest writes for the tenant it is given; import_views calls it unscoped"
        ),
        "deal_signals/receivers.py": (
            "post_save of a new tenant (command, admin): its default signal rules"
        ),
        "deal_signals/services/signals.py": (
            "deal_signals_queue runs on commit, after the request's scope: the backlog row"
        ),
        "segmentation/views/keymen.py": (
            "a streamed CSV body is produced after the middleware left the scope"
        ),
    },
    # Django's plain manager skips the scoped one (row-level security still holds).
    "_base_manager.": {
        "pse_crm/api/viewsets.py": "schema generation, outside any tenant: .none() only",
        "pse_crm/audit.py": "the stored row before a save and a foreign key's name, any model",
        "pse_crm/tenant_data.py": "a tenant's members (users) and memberships, by tenant id",
    },
}


_NOT_CODE = {tokenize.STRING, tokenize.COMMENT} | (
    {tokenize.FSTRING_MIDDLE} if hasattr(tokenize, "FSTRING_MIDDLE") else set()
)


def _code(path: str) -> str:
    """The file's source with its strings and comments blanked: a docstring that names a
    hatch is not a use of it."""
    lines = (ROOT / path).read_text(encoding="utf-8").splitlines(keepends=True)
    with tokenize.open(ROOT / path) as f:
        spans = [
            (t.start, t.end) for t in tokenize.generate_tokens(f.readline) if t.type in _NOT_CODE
        ]
    for (row, col), (end_row, end_col) in spans:
        for r in range(row, end_row + 1):
            line = lines[r - 1]
            a = col if r == row else 0
            b = end_col if r == end_row else len(line.rstrip("\r\n"))
            lines[r - 1] = line[:a] + " " * (b - a) + line[b:]
    return "".join(lines)


def _files_using(needle: str) -> set[str]:
    # --untracked: a new file counts before it is added to git.
    out = subprocess.run(
        ["git", "grep", "--untracked", "-l", "-F", needle, "--", "*.py", ":!tests/*", ":!bench/*"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode in (0, 1), out.stderr  # 1: no match
    return {path for path in out.stdout.splitlines() if path and needle in _code(path)}


def _mismatches(needle: str, used: set[str], allowed: set[str]) -> list[str]:
    problems = []
    if used - allowed:
        problems.append(f"{needle!r} used outside its allowed files: {sorted(used - allowed)}")
    if allowed - used:
        problems.append(f"{needle!r} allowed but no longer used (drop): {sorted(allowed - used)}")
    return problems


def test_escape_hatches_exactly_where_allowed():
    problems = [
        problem
        for needle, allowed in ALLOWED.items()
        for problem in _mismatches(needle, _files_using(needle), set(allowed))
    ]
    assert not problems, "\n".join(problems)


def test_the_guard_reports_a_new_file_and_a_stale_entry():
    assert _mismatches("x(", {"a.py", "b.py"}, {"a.py", "b.py"}) == []
    new, stale = (
        _mismatches("x(", {"a.py", "new.py"}, {"a.py"}),
        _mismatches("x(", {"a.py"}, {"a.py", "gone.py"}),
    )
    assert len(new) == 1 and "new.py" in new[0] and "outside" in new[0]
    assert len(stale) == 1 and "gone.py" in stale[0] and "no longer used" in stale[0]


def test_a_hatch_named_in_a_docstring_or_comment_is_not_a_use(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        '"""Never ``all_tenants()`` here."""\n'
        "# nor all_tenants() here\n"
        'x = "all_tenants()"\n'
        "with all_tenants():\n"
        "    pass\n",
        encoding="utf-8",
    )
    code = _code(str(source))
    assert code.count("all_tenants(") == 1
    assert "with all_tenants():" in code
