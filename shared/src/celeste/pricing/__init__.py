"""What things cost: price lists and their rules, order money (codes, shipping and tax on priced
lines), discount codes, tax rates, shipping methods."""
