"""The catalogue: categories (a tree), products, stores."""
