#!/usr/bin/env python3
"""Send a signed Stripe webhook event about a PaymentIntent to the local ``payments`` function.

The local Stripe sends its own events when an intent is paid; this replays one on demand (for
example after the functions emulator was restarted), signed with the demo webhook secret:

    functions/venv/bin/python tools/stripe_event.py pi_123 [--type payment_intent.succeeded]

The function re-reads the intent from Stripe, so the event only says which intent to look at.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "functions"))
from celeste_functions.adapters.stripe_payments import sign_payload
from celeste_functions.config import DEMO_STRIPE_WEBHOOK_SECRET

DEFAULT_URL = "http://127.0.0.1:5001/demo-celeste/us-central1/payments/stripe/webhook"


def main(argv: list[str]) -> int:
    """Build, sign and post one event; print the function's answer."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("intent_id")
    parser.add_argument("--type", default="payment_intent.succeeded")
    parser.add_argument("--url", default=os.environ.get("CELESTE_WEBHOOK_URL", DEFAULT_URL))
    parser.add_argument("--event-id", default=None, help="reuse an id to see a replay")
    args = parser.parse_args(argv)
    secret = os.environ.get("STRIPE_WEBHOOK_SECRET", DEMO_STRIPE_WEBHOOK_SECRET)
    payload = json.dumps(
        {
            "id": args.event_id or f"evt_cli_{uuid.uuid4().hex[:16]}",
            "object": "event",
            "type": args.type,
            "data": {"object": {"id": args.intent_id, "object": "payment_intent"}},
        }
    ).encode()
    request = urllib.request.Request(
        args.url,
        data=payload,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign_payload(payload, secret=secret, timestamp=int(time.time())),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            sys.stdout.write(f"{response.status} {response.read().decode()}\n")
            return 0
    except urllib.error.HTTPError as exc:
        sys.stdout.write(f"{exc.code} {exc.read().decode()}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
