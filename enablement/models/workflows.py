"""See enablement/models/__init__.py."""
