"""Writes of the combined pages that need more than one app (partner totals: partners and
activities' currencies)."""
