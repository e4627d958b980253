"""HTTP resources: one module per function, each a router of thin handlers."""
