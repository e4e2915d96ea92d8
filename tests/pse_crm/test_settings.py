"""Production settings: deploy checks pass with the required variables, and refuse to start without them."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _check_deploy(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    # Only what production would have: no test-only switches (the browser tests set one).
    dropped = {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(extra_env)
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
            "--settings=pse_crm.settings.production",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_passes_with_production_variables():
    result = _check_deploy(
        {
            "SECRET_KEY": "k" * 20 + "-Zq8!v2#Lr9@Xw4$Tn6%Hy3^Jb7&Md5*",
            "ALLOWED_HOSTS": "crm.example.com",
            "FIELD_ENCRYPTION_KEY": "Zp3nS0pZ8d3Jr4qk1o8b7JqvQ2m0mJbq0Qm8r6c4lUo=",
        }
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key():
    result = _check_deploy({"ALLOWED_HOSTS": "crm.example.com"})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
