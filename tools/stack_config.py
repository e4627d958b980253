"""The configuration of one stack: its ports (free ones, so that stacks run side by side), the
firebase.json firebase-tools runs it with, the environment naming every service, and the config
the storefront reads.

Standard library only (``tools/stack.py`` runs before functions/venv exists).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from tools.toolchain import CHROMIUM, PROJECT, ROOT, WEB_PUBLIC, Toolchain

REGION = "us-central1"

# The local Stripe's demo-project keys (the functions read the same ones in demo- projects).
STRIPE_KEYS = {
    "STRIPE_SECRET_KEY": "sk_test_celeste_dev",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_celeste_dev",
    "STRIPE_WEBHOOK_SECRET": "whsec_celeste_dev",
}


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    """Whether something accepts connections on ``127.0.0.1:port``."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Ports:
    """Every port the stack listens on (the defaults are ``make dev``'s)."""

    redis: int = 6379
    auth: int = 9099
    firestore: int = 8080
    firestore_ws: int = 9150
    functions: int = 5001
    hub: int = 4400
    logging: int = 4500
    eventarc: int = 9299
    tasks: int = 9499
    hosting: int = 5000
    stripe: int = 8420
    smtp: int = 1025
    maildev: int = 1080
    fcm: int = 8426

    @classmethod
    def free(cls) -> Ports:
        """All ports chosen free (tests: never clash with a running ``make dev``)."""
        return cls(**{name: free_port() for name in cls.__dataclass_fields__})

    @property
    def functions_url(self) -> str:
        """Where the HTTP functions answer."""
        return f"http://127.0.0.1:{self.functions}/{PROJECT}/{REGION}"


def stack_env(toolchain: Toolchain, ports: Ports) -> dict[str, str]:
    """The environment of firebase-tools and of what it runs: every service's address. The
    functions emulator hands it to the functions, so Redis, the local Stripe, MailDev and the
    fake FCM are named here before they start."""
    env = toolchain.env()
    env.update(
        {
            "REDIS_URL": f"redis://127.0.0.1:{ports.redis}/0",
            "CELESTE_REDIS_PORT": str(ports.redis),
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{ports.firestore}",
            "FIREBASE_AUTH_EMULATOR_HOST": f"127.0.0.1:{ports.auth}",
            "CELESTE_FUNCTIONS_URL": ports.functions_url,
            "STRIPE_API_BASE": f"http://127.0.0.1:{ports.stripe}",
            # Webhook retries in seconds, not hours, and deactivation after 3 failed deliveries,
            # so the tests see a delivery fail and an endpoint deactivated.
            "CELESTE_WEBHOOK_RETRY_SCHEDULE": "1,1,2",
            "CELESTE_WEBHOOK_DEACTIVATE_AFTER": "3",
            **STRIPE_KEYS,
            **notify_env(smtp=ports.smtp, maildev=ports.maildev, fcm=ports.fcm),
            **storefront_env(ports),
        }
    )
    return env


def notify_env(*, smtp: int, maildev: int, fcm: int) -> dict[str, str]:
    """Where the functions send mail and push, and where tests read them: MailDev's SMTP and
    its web UI / REST API, the fake FCM (``tools/services.py`` starts both)."""
    return {
        "CELESTE_SMTP_HOST": "127.0.0.1",
        "CELESTE_SMTP_PORT": str(smtp),
        "CELESTE_MAILDEV_URL": f"http://127.0.0.1:{maildev}",
        "CELESTE_FCM_URL": f"http://127.0.0.1:{fcm}",
    }


def storefront_env(ports: Ports) -> dict[str, str]:
    """Where the storefront is served, and CORS allowing exactly that origin (unless the caller
    configured CELESTE_CORS_ORIGINS); on ``make dev``'s port 5000 that is the demo default."""
    url = f"http://127.0.0.1:{ports.hosting}"
    env = {"CELESTE_STOREFRONT_URL": url, "CELESTE_CHROMIUM": str(CHROMIUM)}
    if "CELESTE_CORS_ORIGINS" not in os.environ:
        env["CELESTE_CORS_ORIGINS"] = f"{url},http://localhost:{ports.hosting}"
    return env


def serve_storefront(config: dict[str, object], ports: Ports) -> list[Path]:
    """Add the Hosting emulator to a generated firebase config and write the small config the
    app reads at ``/celeste-config.json`` (where the functions and emulators of this run are).

    Returns the files to delete when the stack stops.
    """
    emulators = config["emulators"]
    assert isinstance(emulators, dict)
    emulators["hosting"] = {"host": "127.0.0.1", "port": ports.hosting}
    app_config = {
        "projectId": PROJECT,
        "apiKey": "demo-key",
        "functionsBaseUrl": ports.functions_url,
        "authEmulatorUrl": f"http://127.0.0.1:{ports.auth}",
        "firestoreEmulator": {"host": "127.0.0.1", "port": ports.firestore},
        "stripeApiBase": f"http://127.0.0.1:{ports.stripe}",
    }
    path = WEB_PUBLIC / "__dev" / f"config-{ports.hosting}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(app_config, indent=2))
    hosting = config["hosting"]
    assert isinstance(hosting, dict)
    rewrite = {"source": "/celeste-config.json", "destination": f"/__dev/{path.name}"}
    hosting["rewrites"] = [rewrite, *hosting.get("rewrites", [])]
    return [path]


def write_config(ports: Ports) -> list[Path]:
    """firebase.json with this run's ports (and the storefront's config); the files written."""
    config = json.loads((ROOT / "firebase.json").read_text())
    p = ports
    config["emulators"].update(
        {
            "auth": {"host": "127.0.0.1", "port": p.auth},
            "firestore": {
                "host": "127.0.0.1",
                "port": p.firestore,
                "websocketPort": p.firestore_ws,
            },
            "functions": {"host": "127.0.0.1", "port": p.functions},
            "hub": {"host": "127.0.0.1", "port": p.hub},
            "logging": {"host": "127.0.0.1", "port": p.logging},
            "eventarc": {"host": "127.0.0.1", "port": p.eventarc},
            "tasks": {"host": "127.0.0.1", "port": p.tasks},
            "ui": {"enabled": False},
        }
    )
    files = serve_storefront(config, ports)
    # The config must sit in the project root: firebase-tools resolves "functions" from it.
    path = ROOT / f".firebase.{p.functions}.json"
    path.write_text(json.dumps(config, indent=2))
    return [path, *files]
