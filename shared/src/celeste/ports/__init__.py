"""Ports: what the services need from storage, as protocols the adapters (or fakes) implement,
one module per context (``celeste.ports.orders``, ...), plus the atomic writer and the rate
counter. Import each from its module; this package re-exports nothing."""
