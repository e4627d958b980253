"""Application services: each use case as one call, over the ports."""
