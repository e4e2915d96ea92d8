"""Paths that skip the tenancy: the probes and the metrics scrape (pse_crm/health.py,
pse_crm/metrics.py). No user, no tenant, and so no database query before the view runs;
their requests are logged only when they fail."""

UNSCOPED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
