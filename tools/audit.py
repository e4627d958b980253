#!/usr/bin/env python3
"""Audit stock: recompute every level from its movement ledger and the open orders.

Prints a report and exits 1 when any level drifts (0 when clean, 2 on a usage error).

    functions/venv/bin/python tools/audit.py              the emulator of `make dev`
    FIRESTORE_EMULATOR_HOST=127.0.0.1:8181 tools/audit.py  another emulator
    tools/audit.py --live --project my-project            a real project (Application Default
                                                           Credentials; read-only)

By default it talks to the Firestore emulator named by ``FIRESTORE_EMULATOR_HOST`` (else
127.0.0.1:8080) and project ``GCLOUD_PROJECT`` (else demo-celeste). The auditor reads levels,
ledgers and orders one after another, not as one snapshot, so a write landing mid-audit can show
as drift; ``--recheck-after`` (default 2 s) audits again after a pause and reports only drift that
is still there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "functions"), str(ROOT / "shared" / "src")]


def main(argv: list[str]) -> int:
    """Run the audit once (twice when drift shows up) and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", default=os.environ.get("GCLOUD_PROJECT", "demo-celeste"))
    parser.add_argument(
        "--live", action="store_true", help="audit a real project, not the emulator"
    )
    parser.add_argument("--recheck-after", type=float, default=2.0, metavar="SECONDS")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.live:
        os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
    else:
        os.environ.setdefault("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")
        if not args.project.startswith("demo-"):
            parser.error("an emulator project id starts with demo-; use --live for a real one")

    from google.cloud import firestore

    from celeste.services.inventory import StockAuditor
    from celeste_functions.adapters.inventory import FirestoreInventory
    from celeste_functions.adapters.orders import FirestoreOrders

    client = firestore.Client(project=args.project)
    auditor = StockAuditor(
        inventory=FirestoreInventory(client=lambda: client),
        orders=FirestoreOrders(client=lambda: client),
    )
    report = auditor.run()
    if not report.clean and args.recheck_after > 0:
        time.sleep(args.recheck_after)
        second = auditor.run()
        still = {(d.key, d.kind) for d in second.drifts}
        report = second.model_copy(
            update={"drifts": [d for d in report.drifts if (d.key, d.kind) in still]}
        )

    if args.json:
        print(json.dumps({**report.model_dump(mode="json"), "clean": report.clean}, indent=2))
    else:
        where = "live" if args.live else os.environ["FIRESTORE_EMULATOR_HOST"]
        print(
            f"stock audit of {args.project} ({where}) at {report.checked_at:%Y-%m-%d %H:%M:%S}Z: "
            f"{report.levels_checked} levels, {report.movements_read} ledger rows, "
            f"{report.open_orders} orders holding stock"
        )
        for drift in report.drifts:
            print(f"  DRIFT {drift.key}: {drift.kind}: {drift.detail}")
        for pending in report.pending_effects:
            print(
                f"  pending stock effect: order {pending.order_id} is {pending.status} "
                f"but still holds stock at {pending.store_id} (its trigger is late or lost; "
                "expire_reservations re-drives it)"
            )
        print("clean" if report.clean else f"{len(report.drifts)} drift(s) found")
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
