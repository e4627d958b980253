#!/usr/bin/env python3
"""Seed the local stack with demo data through the public API (so triggers fire as in real use).

Needs FIREBASE_AUTH_EMULATOR_HOST and CELESTE_FUNCTIONS_URL (``make dev`` sets both). Idempotent:
what already exists is left as it is.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.devauth import AuthEmulator

PASSWORD = "celeste-demo"
CATEGORIES = [  # (slug, name, parent slug)
    ("groceries", "Groceries", None),
    ("fruit", "Fruit", "groceries"),
    ("vegetables", "Vegetables", "groceries"),
    ("bakery", "Bakery", "groceries"),
    ("household", "Household", None),
]


def call(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """One JSON request; returns status and decoded body."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def main() -> int:
    """Create the demo users and catalogue."""
    base = os.environ["CELESTE_FUNCTIONS_URL"]
    auth = AuthEmulator()
    admin = auth.user("admin@celeste.test", PASSWORD, role="admin")
    auth.user("customer@celeste.test", PASSWORD)
    print("users: admin@celeste.test (admin), customer@celeste.test; password", PASSWORD)
    _, existing = call("GET", f"{base}/categories?limit=100", admin.id_token)
    ids = {c["slug"]: c["id"] for c in existing["items"]}
    for slug, name, parent in CATEGORIES:
        if slug in ids:
            continue
        status, body = call(
            "POST",
            f"{base}/categories",
            admin.id_token,
            {"slug": slug, "name": name, "parent_id": ids.get(parent) if parent else None},
        )
        if status != 201:
            print(f"could not create category {slug}: {status} {body}", file=sys.stderr)
            return 1
        ids[slug] = body["id"]
    print(f"categories: {', '.join(ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
