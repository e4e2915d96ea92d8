"""Enablement writes, one module per part of the method."""
