"""The Fernet keys of ``FIELD_ENCRYPTION_KEY``, read in one place (the system check and
the Salesforce connector's stored secrets both use them)."""

from __future__ import annotations

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


def field_fernet() -> MultiFernet:
    """``FIELD_ENCRYPTION_KEY`` as comma-separated Fernet keys: the first encrypts, every
    one decrypts. Raises ``ValueError`` when an entry is not a Fernet key (an empty one
    included: a stray comma is a mistake, not a key)."""
    keys = [k.strip() for k in str(getattr(settings, "FIELD_ENCRYPTION_KEY", "")).split(",")]
    return MultiFernet([Fernet(k) for k in keys])
