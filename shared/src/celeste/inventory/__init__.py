"""Stock: reservation arithmetic and the stored levels and ledger rows."""
