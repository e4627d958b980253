"""Adapters: Firestore repositories and the Redis cache behind the domain's ports."""
