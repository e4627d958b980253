"""The HTTP layer: one router, one error mapper, one request context for every resource."""
