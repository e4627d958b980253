"""Orders: the status machine, the requests that place one, the stored order, fulfilment, hold caps,
stats effects and the order's payment."""
