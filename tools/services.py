"""Redis, the local Stripe, MailDev and the fake FCM for one run, beside the Firebase emulators.

firebase-tools runs the emulators and nothing else, so the other services a run needs are
started here, by whatever runs inside ``firebase emulators:exec``:

- ``make test``: pytest, through the session fixture ``local_services`` (tests/conftest.py);
- ``make dev`` and the benchmarks: this file as a script (``--seed`` seeds the demo data), which
  holds the services until its standard input closes (``tools/stack.py`` closes it on Ctrl-C),
  then exits so that ``emulators:exec`` exports the emulators' data and stops them.

The ports are the ones the environment names (``REDIS_URL``, ``STRIPE_API_BASE``,
``CELESTE_SMTP_PORT``, ``CELESTE_MAILDEV_URL``, ``CELESTE_FCM_URL``: the functions emulator was
started knowing them); when unset (pytest run alone), free ones are chosen and written back to
the environment. A port something already answers on is used as it is.

    functions/venv/bin/python tools/services.py [--seed] [--ready FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, MutableMapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: tools/ is sys.path[0], the repository is not
    sys.path.insert(0, str(ROOT))

from tests.support.redis_server import RedisServer  # noqa: E402
from tools.stack_config import STRIPE_KEYS, free_port, notify_env, port_open  # noqa: E402
from tools.toolchain import MAILDEV  # noqa: E402

STATE = ROOT / ".emulators"
#: The Stripe events the ``payments`` function acts on (``HANDLED_EVENTS`` in
#: ``celeste.services.payment_events``); localstripe sends only these (the refund and dispute ones
#: through ``tools/localstripe_events.py``).
STRIPE_WEBHOOK_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
)


def say(message: str) -> None:
    """Progress output: one line, flushed, on stderr."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def stripe_env(port: int) -> dict[str, str]:
    """What the functions and tests need to talk to the local Stripe on ``port``."""
    return {"STRIPE_API_BASE": f"http://127.0.0.1:{port}", **STRIPE_KEYS}


def register_stripe_webhook(*, stripe_port: int, url: str) -> None:
    """Point localstripe's webhook at ``url``, signed with the dev secret (form-encoded, with
    ``events[]`` as a list: localstripe refuses a plain ``events`` string)."""
    form = [("url", url), ("secret", STRIPE_KEYS["STRIPE_WEBHOOK_SECRET"])]
    form += [("events[]", event) for event in STRIPE_WEBHOOK_EVENTS]
    request = urllib.request.Request(
        f"http://127.0.0.1:{stripe_port}/_config/webhooks/celeste",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": f"Bearer {STRIPE_KEYS['STRIPE_SECRET_KEY']}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            raise RuntimeError(f"localstripe refused the webhook registration ({response.status})")


def _port_of(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    if port is None:
        raise ValueError(f"no port in {url!r}")
    return port


class Spawned:
    """A service process in its own process group (stopped with everything it started), its
    output in ``.emulators/<name>-<port>.log``."""

    def __init__(
        self, name: str, cmd: list[str], *, port: int, ports: tuple[int, ...] = ()
    ) -> None:
        STATE.mkdir(exist_ok=True)
        self.name = name
        self.log = STATE / f"{name}-{port}.log"
        say(f"starting {name} on 127.0.0.1:{port}")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not all(port_open(p) for p in (port, *ports)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not start; see {self.log}")
            time.sleep(0.1)

    def exited(self) -> bool:
        """Whether the process has ended."""
        return self.proc.poll() is not None

    def stop(self) -> None:
        """Stop the process group: SIGTERM, then SIGKILL after 10 s."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=10)
                return
            except subprocess.TimeoutExpired:
                continue


class LocalServices:
    """redis-server, localstripe (``tools/localstripe_server.py``), MailDev (npm ``maildev``)
    and the fake FCM (``tools/fake_fcm.py``) on loopback ports."""

    def __init__(self, env: MutableMapping[str, str]) -> None:
        if not env.get("REDIS_URL"):
            port = free_port()
            env.update({"REDIS_URL": f"redis://127.0.0.1:{port}/0"})
        if not env.get("STRIPE_API_BASE"):
            env.update(stripe_env(free_port()))
        named = ("CELESTE_SMTP_PORT", "CELESTE_MAILDEV_URL", "CELESTE_FCM_URL")
        if not all(env.get(name) for name in named):
            env.update(notify_env(smtp=free_port(), maildev=free_port(), fcm=free_port()))
        self.env = env
        self.redis_port = _port_of(env["REDIS_URL"])
        self.stripe_port = _port_of(env["STRIPE_API_BASE"])
        self.smtp_port = int(env["CELESTE_SMTP_PORT"])
        self.maildev_port = _port_of(env["CELESTE_MAILDEV_URL"])
        self.fcm_port = _port_of(env["CELESTE_FCM_URL"])
        env.update({"CELESTE_REDIS_PORT": str(self.redis_port)})
        self.redis: RedisServer | None = None
        self.spawned: list[Spawned] = []

    def start(self) -> LocalServices:
        """Start what does not answer yet; register the Stripe webhook when the functions URL is
        known (``CELESTE_FUNCTIONS_URL``)."""
        if not port_open(self.redis_port):
            say(f"starting redis-server on 127.0.0.1:{self.redis_port}")
            self.redis = RedisServer(
                port=self.redis_port, args=("--maxmemory-policy", "volatile-lru")
            ).start()
        try:
            self._spawn_missing()
        except BaseException:
            self.stop()
            raise
        functions = self.env.get("CELESTE_FUNCTIONS_URL")
        if functions:
            register_stripe_webhook(
                stripe_port=self.stripe_port, url=f"{functions}/payments/stripe/webhook"
            )
        return self

    def _spawn_missing(self) -> None:
        py = sys.executable
        if not port_open(self.stripe_port):
            stripe = [
                py,
                str(ROOT / "tools/localstripe_server.py"),
                "--port",
                str(self.stripe_port),
            ]
            self.spawned.append(Spawned("localstripe", stripe, port=self.stripe_port))
        if not port_open(self.smtp_port):
            maildev = [
                str(MAILDEV),
                "--smtp",
                str(self.smtp_port),
                "--web",
                str(self.maildev_port),
                "--ip",
                "127.0.0.1",
                "--web-ip",
                "127.0.0.1",
                "--silent",
            ]
            self.spawned.append(
                Spawned("maildev", maildev, port=self.smtp_port, ports=(self.maildev_port,))
            )
        if not port_open(self.fcm_port):
            fcm = [py, str(ROOT / "tools/fake_fcm.py"), "--port", str(self.fcm_port)]
            self.spawned.append(Spawned("fake-fcm", fcm, port=self.fcm_port))

    def exited(self) -> str | None:
        """The name of a service that has exited since ``start``, if any."""
        if self.redis and self.redis.proc and self.redis.proc.poll() is not None:
            return "redis-server"
        return next((s.name for s in self.spawned if s.exited()), None)

    def stop(self) -> None:
        """Stop what ``start`` started."""
        while self.spawned:
            self.spawned.pop().stop()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None


@contextlib.contextmanager
def local_services(env: MutableMapping[str, str]) -> Iterator[LocalServices]:
    """The local services for the duration of a ``with`` block."""
    services = LocalServices(env)
    try:
        yield services.start()
    finally:
        services.stop()


def main(argv: list[str]) -> int:
    """Hold the services (and seed) until standard input closes or a service exits."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", action="store_true", help="seed the demo data (tools/seed.py)")
    parser.add_argument("--ready", type=Path, help="a file to create once everything is up")
    args = parser.parse_args(argv)
    closed = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.buffer.read()
        closed.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    with local_services(os.environ) as services:
        if args.seed:
            say("seeding demo data")
            seed = subprocess.run([sys.executable, str(ROOT / "tools/seed.py")], cwd=ROOT)
            if seed.returncode != 0:
                say("seeding failed (see above); the stack is still up")
        if args.ready:
            args.ready.touch()
        while not closed.wait(1):
            gone = services.exited()
            if gone:
                say(f"{gone} exited: stopping the stack (the emulators export their data)")
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
