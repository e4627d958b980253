#!/usr/bin/env python3
"""Promote an existing user to admin by email: the ``role`` claim and the profile's role.

    make admin EMAIL=someone@example.com                   the `make dev` emulators
    tools/make_admin.py EMAIL --emulator                   emulators at FIREBASE_AUTH_EMULATOR_HOST
                                                           and FIRESTORE_EMULATOR_HOST, else at the
                                                           `make dev` ports 9099 and 8080
    tools/make_admin.py EMAIL --project my-project         a real project, with Application
                                                           Default Credentials
                                                           (gcloud auth application-default login)

With both emulator variables already set, ``--emulator`` may be left out. A project whose id does
not start with ``demo-`` is used only when named with ``--project``; a ``demo-`` project only
against the emulators. The user must exist already (signed up in the app or via /auth/register);
the new role reaches their ID token on its next refresh, so they sign in again to use it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AUTH_VAR = "FIREBASE_AUTH_EMULATOR_HOST"
FIRESTORE_VAR = "FIRESTORE_EMULATOR_HOST"
#: The ports `make dev` runs the emulators on (firebase.json).
DEV_HOSTS = {AUTH_VAR: "127.0.0.1:9099", FIRESTORE_VAR: "127.0.0.1:8080"}


class Refused(Exception):
    """The command line or environment names a target this tool will not write to."""


@dataclass(frozen=True)
class Target:
    """Where the promotion is written: a project, and the emulator hosts when emulated."""

    project: str
    emulator_hosts: dict[str, str]

    @property
    def emulated(self) -> bool:
        """Whether both Auth and Firestore are emulators."""
        return bool(self.emulator_hosts)

    def describe(self) -> str:
        """One line saying where the tool writes."""
        if self.emulated:
            hosts = ", ".join(f"{k}={v}" for k, v in sorted(self.emulator_hosts.items()))
            return f"project {self.project} on the emulators ({hosts})"
        return f"live project {self.project} (Application Default Credentials)"


def default_project(env: Mapping[str, str], root: Path = ROOT) -> str:
    """The project from the environment, else ``.firebaserc``'s default, else ``demo-celeste``."""
    for var in ("GCLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT"):
        if env.get(var):
            return env[var]
    try:
        rc = json.loads((root / ".firebaserc").read_text(encoding="utf-8"))
        return str(rc["projects"]["default"])
    except (OSError, ValueError, KeyError, TypeError):
        return "demo-celeste"


def resolve_target(
    *, project: str | None, emulator: bool, env: Mapping[str, str], root: Path = ROOT
) -> Target:
    """Decide where to write, or raise ``Refused`` saying why not."""
    set_hosts = {var: env[var] for var in (AUTH_VAR, FIRESTORE_VAR) if env.get(var)}
    if len(set_hosts) == 1:
        missing = AUTH_VAR if FIRESTORE_VAR in set_hosts else FIRESTORE_VAR
        raise Refused(
            f"only one emulator is configured; set {missing} too (or neither), so the claim "
            "and the profile are written to the same place"
        )
    hosts = set_hosts or (dict(DEV_HOSTS) if emulator else {})
    chosen = project or default_project(env, root)
    demo = chosen.startswith("demo-")
    if not hosts:
        if demo:
            raise Refused(
                f"{chosen} is a demo project, which exists only in the emulators: pass "
                "--emulator (the `make dev` ports) or set the emulator host variables"
            )
        if project is None:
            raise Refused(
                f"refusing to write to the live project {chosen} picked up from the "
                "environment: name it explicitly with --project"
            )
    elif not demo and project is None:
        raise Refused(f"{chosen} is not a demo- project: name it explicitly with --project")
    return Target(project=chosen, emulator_hosts=hosts)


def promote(email: str, target: Target) -> str:
    """Promote ``email`` on ``target``; returns the report line."""
    os.environ["GCLOUD_PROJECT"] = target.project
    os.environ.update(target.emulator_hosts)
    if not target.emulated:
        for var in (AUTH_VAR, FIRESTORE_VAR):
            os.environ.pop(var, None)
    sys.path.insert(0, str(ROOT / "functions"))
    from celeste.services.accounts import AccountService
    from celeste.services.tiers import TierService
    from celeste_functions.adapters.accounts import FirebaseIdentity, FirestoreProfiles
    from celeste_functions.adapters.cache import Cache
    from celeste_functions.adapters.tiers import FirestoreTiers
    from celeste_functions.adapters.writer import FirestoreWriter
    from celeste_functions.clients import firebase_app, firestore_client

    # Tiers are only read here; a script reaches no cache (the triggers retire for it).
    no_cache = Cache(client=lambda: None, ttl_s=60)
    writer = FirestoreWriter(client=firestore_client.get, cache=no_cache)
    service = AccountService(
        profiles=FirestoreProfiles(client=firestore_client.get),
        identity=FirebaseIdentity(app=firebase_app.get),
        tiers=TierService(repository=FirestoreTiers(client=firestore_client.get, writer=writer)),
    )
    profile = service.make_admin(email).value
    return (
        f"promoted {profile.email or email} (uid {profile.uid}) to admin in "
        f"{target.describe()}: set the role claim and users/{profile.uid}.role; "
        "it takes effect when the user signs in again (or refreshes their ID token)"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, check the target, promote, print what was done."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("email", help="email of the existing account to promote")
    parser.add_argument("--project", help="the Firebase project id (required for a live project)")
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="use the emulators (the `make dev` ports unless the host variables are set)",
    )
    args = parser.parse_args(argv)
    try:
        target = resolve_target(project=args.project, emulator=args.emulator, env=os.environ)
    except Refused as exc:
        print(f"make_admin: {exc}", file=sys.stderr)
        return 2
    print(f"make_admin: writing to {target.describe()}", file=sys.stderr)
    from celeste.kernel.errors import CelesteError, Contention

    try:
        print(promote(args.email.strip().lower(), target))
    except CelesteError as exc:
        hint = ""
        if isinstance(exc, Contention) and target.emulated:
            hint = " (are the emulators running? `make dev` starts them)"
        print(f"make_admin: {exc.detail}{hint}", file=sys.stderr)
        return 1
    except Exception as exc:  # unreachable emulator, missing credentials: say so, no traceback
        print(f"make_admin: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
