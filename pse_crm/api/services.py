"""Calling services from viewsets: the acting user and the translation of service errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

T = TypeVar("T")


NO_DELETE = ["get", "post", "put", "patch", "head", "options"]


def run_service(call: Callable[..., T], **kwargs: Any) -> T:
    """Call a service; its ValidationError becomes the API's 400 with the same messages."""
    try:
        return call(**kwargs)
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        raise serializers.ValidationError(detail) from None


def acting_user(request):
    """The member behind the request (an API key has no user)."""
    return request.user if getattr(request.user, "pk", None) else None
