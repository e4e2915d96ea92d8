"""Enablement reads, one module per part of the method."""
