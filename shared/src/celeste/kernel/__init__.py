"""The shared kernel: clock, errors, ids, money, cursors and pages, versions, addresses, rate-limit
windows — what every context uses and none owns."""
