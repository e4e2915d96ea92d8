"""Enablement API viewsets, one module per part of the method."""
