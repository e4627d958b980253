#!/usr/bin/env python3
"""Run Celeste's local stack: ``firebase emulators:exec`` on ports of this run's own.

    python3 tools/stack.py setup            install what is missing (tools/toolchain.py)
    python3 tools/stack.py dev [--clean]    the whole stack on the usual ports, seeded; Ctrl-C stops
                                            (emulator data kept in .dev-data/; --clean: start empty)
    python3 tools/stack.py test [LAYER...]  every test layer (or: unit integration e2e rules deploy
                                            browser)
                                            on free loopback ports; extra args after -- go to pytest

Which tool runs what:

- firebase-tools (``firebase emulators:exec``) starts the emulators, waits until they are ready,
  runs one command, then (``make dev``: exports the data and) stops them;
- that command is pytest for ``make test``, which starts Redis and the local Stripe itself (the
  session fixture ``local_services``), and ``tools/services.py --seed`` for ``make dev``, which
  starts them, seeds, and holds them until its standard input closes;
- this file: the installs (``tools/toolchain.py``), a generated firebase config on free ports (so
  two stacks run side by side), the environment naming every port, one Ctrl-C, and ending what
  firebase-tools leaves behind (its process group, and the Firestore emulator's ``java`` it starts
  in a session of its own, firebase-tools issue 2477).

Standard library only, so it runs on a fresh machine before anything is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.stack_config import Ports, free_port, port_open, stack_env, write_config
from tools.toolchain import (  # re-exported: the benchmarks use some
    FIREBASE,
    PROJECT,
    ROOT,
    STATE,
    VENV,
    VENV_PY,
    Toolchain,
    ensure_chromium,
    say,
    setup,
)

__all__ = ["PROJECT", "VENV", "VENV_PY", "Ports", "free_port", "port_open", "setup", "wait_for"]

LAYERS = ("unit", "integration", "e2e", "rules", "deploy", "browser")
#: Where ``make dev`` keeps the emulators' data between runs (``make dev CLEAN=1`` empties it).
#: Outside ``.emulators/`` so that ``make clean`` (build artefacts) never loses it.
DEV_DATA = ROOT / ".dev-data"
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


def wait_for(check: object, timeout_s: float, what: str) -> None:
    """Poll ``check()`` until true; exit with a clear message after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.25)
    sys.exit(f"stack: {what} did not become ready within {timeout_s:.0f}s")


@dataclass
class Exec:
    """One ``firebase emulators:exec`` in a session of its own. Its own output goes to a log;
    the command's output comes back to ours through a FIFO (firebase-tools gives the command
    its own stdout, which is the log's)."""

    proc: subprocess.Popen[bytes]
    ports: Ports
    log: Path
    files: list[Path] = field(default_factory=list)
    pump: threading.Thread | None = None
    hold_fd: int = -1

    @classmethod
    def start(
        cls, env: dict[str, str], ports: Ports, command: str, *, only: str, data: list[str]
    ) -> Exec:
        """Start the emulators in ``only`` and, once they are ready, ``command`` (a shell line);
        ``data`` adds ``--import``/``--export-on-exit`` (``make dev``)."""
        STATE.mkdir(exist_ok=True)
        files = write_config(ports)
        fifo = STATE / f"out-{ports.functions}"
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo)
        files.append(fifo)
        read_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        hold_fd = os.open(fifo, os.O_WRONLY)  # ours: EOF only once the command and we are done
        os.set_blocking(read_fd, True)
        # firebase-tools finds "the" hub of a project through $TMPDIR/hub-<project>.json: with
        # several stacks of demo-celeste on one machine, --export-on-exit would otherwise export
        # whichever stack wrote that file last. A directory of its own per stack.
        tmp = STATE / f"tmp-{ports.functions}"
        tmp.mkdir(parents=True, exist_ok=True)
        log = STATE / f"emulators-{ports.functions}.log"
        say(f"firebase emulators:exec --only {only}; emulator log: {log.relative_to(ROOT)}")
        script = f"exec >{shlex.quote(str(fifo))} 2>&1; {command}"
        cmd = [str(FIREBASE), "emulators:exec", "--only", only, "--project", PROJECT]
        proc = subprocess.Popen(
            [*cmd, "--config", str(files[0]), *data, script],
            cwd=ROOT,
            env={**env, "TMPDIR": str(tmp)},
            stdin=subprocess.PIPE,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        running = cls(proc, ports, log, files, hold_fd=hold_fd)
        running.pump = threading.Thread(target=_copy, args=(read_fd,), daemon=True)
        running.pump.start()
        return running

    def stop(self, how: str, timeout_s: float) -> int:
        """Make firebase-tools stop (``close``: close the command's standard input; ``interrupt``:
        SIGINT to its process group, as Ctrl-C would), then end whatever it left; its status."""
        with contextlib.suppress(ProcessLookupError, BrokenPipeError, OSError):
            if how == "close" and self.proc.stdin:
                self.proc.stdin.close()
            elif how == "interrupt":
                os.killpg(self.proc.pid, signal.SIGINT)
        try:
            status = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            say(f"firebase-tools did not stop within {timeout_s:.0f}s; ending it")
            status = 1
        # What it left in its group (functions-framework workers, Redis if the command was
        # killed), and the Firestore emulator's java, which it starts in a session of its own.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        end_firestore_emulator(self.ports.firestore)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self.proc.stdin:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        if self.hold_fd >= 0:
            os.close(self.hold_fd)
        if self.pump:
            self.pump.join(timeout=5)
        for path in self.files:
            path.unlink(missing_ok=True)
        return status

    def tail(self) -> str:
        """The end of firebase-tools' own log (why it failed)."""
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def _copy(read_fd: int) -> None:
    with os.fdopen(read_fd, "rb", buffering=0) as source:
        while chunk := source.read(65536):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()


def end_firestore_emulator(port: int) -> list[int]:
    """End the Firestore emulator of ``port`` left behind by firebase-tools.

    firebase-tools starts the emulator's ``java`` in a session of its own and leaves it running
    when it is killed or crashes (firebase-tools issue 2477), so ending its process group does not
    reach it. Found by its command line (``-jar ... --port <port>``) in ``/proc``; returns the
    pids ended (Linux only).
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


@contextlib.contextmanager
def one_interrupt() -> Iterator[threading.Event]:
    """The first Ctrl-C or SIGTERM sets the event; later ones (impatient users press twice) are
    ignored so that clean-up is never cut short. So does the death of our parent: make does not
    pass on a SIGINT sent to make alone, it exits and leaves us running."""
    interrupted = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: interrupted.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    parent = os.getppid()

    def watch_parent() -> None:
        while not interrupted.wait(1):
            if os.getppid() != parent:
                interrupted.set()

    threading.Thread(target=watch_parent, daemon=True).start()
    try:
        yield interrupted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def hold(
    toolchain: Toolchain, ports: Ports, *, only: str, seed: bool, data: list[str]
) -> tuple[Exec, dict[str, str], Path]:
    """Start the emulators holding ``tools/services.py`` (Redis, the local Stripe, MailDev, the
    fake FCM, the seed)."""
    env = stack_env(toolchain, ports)
    ready = STATE / f"ready-{ports.functions}"
    ready.unlink(missing_ok=True)
    services = [str(VENV_PY), "tools/services.py", "--ready", str(ready), *(["--seed"] * seed)]
    running = Exec.start(env, ports, shlex.join(services), only=only, data=data)
    running.files.append(ready)
    return running, env, ready


@contextlib.contextmanager
def running(
    toolchain: Toolchain, *, only: str = "auth,firestore,functions,hosting"
) -> Iterator[dict[str, str]]:
    """A stack on free ports for the duration of a ``with`` block (the benchmarks); yields the
    environment that names its services."""
    ports = Ports.free()
    stack, env, ready = hold(toolchain, ports, only=only, seed=False, data=[])
    try:
        wait_for(lambda: ready.exists() or stack.proc.poll() is not None, 300, "the stack")
        if not ready.exists():
            sys.stderr.write(stack.tail())
            sys.exit(f"stack: firebase-tools exited; see {stack.log}")
        yield env
    finally:
        stack.stop("close", timeout_s=120)


def cmd_test(layers: list[str], pytest_args: list[str]) -> int:
    """Run the chosen layers; exit status is non-zero when any fails."""
    layers = layers or list(LAYERS)
    for name, value in TEST_RATE_LIMITS.items():
        os.environ.setdefault(name, value)
    toolchain = setup()
    if "browser" in layers:
        ensure_chromium()
    paths = [f"tests/{layer}" for layer in layers if layer != "rules"]
    pytest = [str(VENV_PY), "-m", "pytest", *paths, *pytest_args]
    only = ["auth", "firestore"]
    only += ["functions"] if {"e2e", "browser"} & set(layers) else []
    only += ["hosting"] if "browser" in layers else []
    if not {"integration", "e2e", "rules", "browser"} & set(layers):
        say(f"pytest {' '.join(paths)}")
        return subprocess.run(pytest, cwd=ROOT, env=toolchain.env()).returncode
    steps = []
    if "rules" in layers:
        steps.append("node --test tests/rules/ || status=1")
    if paths:
        steps.append(f"{shlex.join(pytest)} || status=$?")
    command = "; ".join(["status=0", *steps, "exit $status"])
    ports = Ports.free()
    with one_interrupt() as interrupted:
        stack = Exec.start(
            stack_env(toolchain, ports), ports, command, only=",".join(only), data=[]
        )
        while stack.proc.poll() is None and not interrupted.wait(0.5):
            pass
        status = stack.stop("interrupt" if interrupted.is_set() else "wait", timeout_s=60)
    if "Running script" not in stack.log.read_text(errors="replace"):  # it never got that far
        sys.stderr.write(stack.tail())
        say(f"the emulators did not start; see {stack.log}")
    say("stopped everything this command started")
    return 130 if interrupted.is_set() else status


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


def cmd_dev(*, clean: bool = False) -> int:
    """The whole stack on the usual ports, seeded, until Ctrl-C; data kept across runs."""
    toolchain = setup()
    ports = Ports()
    busy = [name for name, port in vars(ports).items() if port_open(port)]
    if busy:
        sys.exit(f"stack: ports already in use for {', '.join(busy)} (another make dev?)")
    data = dev_data_args(clean=clean)
    with one_interrupt() as interrupted:
        stack, _, ready = hold(
            toolchain, ports, only="auth,firestore,functions,hosting", seed=True, data=data
        )
        while not ready.exists() and stack.proc.poll() is None and not interrupted.wait(0.5):
            pass
        if ready.exists() and not interrupted.is_set():
            print(banner(ports), flush=True)
        while stack.proc.poll() is None and not interrupted.wait(1):
            pass
        if interrupted.is_set():
            print(file=sys.stderr)
            say(f"stopping; the emulators export their data to {DEV_DATA} (CLEAN=1 discards it)")
        else:
            sys.stderr.write(stack.tail())
            say(f"firebase-tools exited; see {stack.log}")
        status = stack.stop("close", timeout_s=120)
    say("stopped everything this command started")
    return 0 if interrupted.is_set() else status or 1


def banner(ports: Ports) -> str:
    """What ``make dev`` prints once everything is up."""
    base = ports.functions_url
    auth_url = (
        f"http://127.0.0.1:{ports.auth}/identitytoolkit.googleapis.com/v1/"
        "accounts:signInWithPassword?key=demo"
    )
    return f"""
Celeste is running (Ctrl-C stops everything).

  Storefront  http://127.0.0.1:{ports.hosting}
  Functions   {base}/<function>      e.g. {base}/categories
  Firestore   127.0.0.1:{ports.firestore}   Auth  127.0.0.1:{ports.auth}
  Redis       127.0.0.1:{ports.redis}
  Stripe      http://127.0.0.1:{ports.stripe}  (localstripe; webhook -> {base}/payments)
  Mail        http://127.0.0.1:{ports.maildev}  (MailDev: emails sent; SMTP :{ports.smtp})
  Push        http://127.0.0.1:{ports.fcm}/messages  (fake FCM: the pushes sent)

  Get a token (demo users: admin@celeste.test / customer@celeste.test, password celeste-demo):
    curl -s -X POST -H 'Content-Type: application/json' \\
      '{auth_url}' \\
      -d '{{"email":"admin@celeste.test","password":"celeste-demo","returnSecureToken":true}}'
  then send it as:  Authorization: Bearer <idToken>
"""


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
    return cmd_test(args.layers, extra)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
