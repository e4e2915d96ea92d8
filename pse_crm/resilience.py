"""Degrade clearly when a backing service is down: "try again", never a 500.

The task queue (Redis) down: a request that asks for work (a recompute) answers 503 with
``Retry-After`` on the API, or goes back to its page with a message, while pages, reads
and ingestion keep working (follow-up work is best effort: pse_crm.tasks.send_task).
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpRequest, JsonResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError as BrokerUnavailable

from pse_crm.tasks import QueueUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 60


class QueueUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception):
        if not isinstance(exception, QueueUnavailable | BrokerUnavailable):
            return None
        log.error("task queue unavailable during %s %s", request.method, request.path)
        message = _("The task queue is unavailable right now; try again in a minute.")
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": message}, status=503)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        messages.error(request, message)
        back = request.META.get("HTTP_REFERER", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = "/"
        return redirect(back)
