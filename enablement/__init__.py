"""History only: the migrations that created the method's tables before they moved to
their feature apps. Nothing imports this package."""
