"""The Celery app. Configuration comes from Django settings (namespace CELERY)."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pse_crm.settings.local")


class Queues:
    """Every queue, named once. A worker for all: ``-Q`` every name in ``ALL`` (the Makefile)."""

    DEFAULT = "default"
    SEGMENTATION = "segmentation"  # nightly and on-demand recomputes: long, CPU-bound
    INGEST = "ingest"  # work that follows ingestion (deal signals): must stay fast
    NOTIFY = "notify"  # emails and digests
    SALESFORCE = "salesforce"  # connector pulls: slow remote calls, never ahead of ingestion

    ALL = (DEFAULT, SEGMENTATION, INGEST, NOTIFY, SALESFORCE)


app = Celery("pse_crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in Queues.ALL]
app.conf.task_default_queue = Queues.DEFAULT
# Tasks are idempotent, so a task lost with its worker is delivered again.
app.conf.task_acks_late = True
app.conf.task_reject_on_worker_lost = True
app.autodiscover_tasks()
