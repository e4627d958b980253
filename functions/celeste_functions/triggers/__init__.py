"""Firestore triggers: the work that follows a write, each idempotent under redelivery."""
