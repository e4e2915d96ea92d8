"""Writes of the activities app: view ingestion (views.py) and deal sync (deals.py)."""
