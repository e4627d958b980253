"""Celeste's Cloud Functions: HTTP resources, Firestore triggers and the adapters behind them."""
