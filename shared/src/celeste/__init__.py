"""Celeste's domain library: the business rules every Cloud Function imports."""
