"""Enablement serializers, one module per part of the method."""
