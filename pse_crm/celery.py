"""The Celery app. Configuration comes from Django settings (namespace CELERY)."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pse_crm.settings.local")


class Queues:
    """Every queue, named once. A worker for all: ``-Q default,segmentation,ingest,notify``."""

    DEFAULT = "default"
    SEGMENTATION = "segmentation"  # nightly and on-demand recomputes: long, CPU-bound
    INGEST = "ingest"  # work that follows ingestion (deal signals): must stay fast
    NOTIFY = "notify"  # emails and digests

    ALL = (DEFAULT, SEGMENTATION, INGEST, NOTIFY)


app = Celery("pse_crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in Queues.ALL]
app.conf.task_default_queue = Queues.DEFAULT
# Tasks are idempotent, so a task lost with its worker is delivered again.
app.conf.task_acks_late = True
app.conf.task_reject_on_worker_lost = True
app.autodiscover_tasks()
