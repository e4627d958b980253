"""The first-admin command decides where it writes before touching anything; refuses the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.make_admin import AUTH_VAR, DEV_HOSTS, FIRESTORE_VAR, Refused, main, resolve_target

EMULATED = {AUTH_VAR: "127.0.0.1:1111", FIRESTORE_VAR: "127.0.0.1:2222"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / ".firebaserc").write_text('{"projects": {"default": "demo-celeste"}}')
    return tmp_path


def test_emulator_flag_defaults_to_the_make_dev_ports(root: Path) -> None:
    target = resolve_target(project=None, emulator=True, env={}, root=root)
    assert (target.project, target.emulator_hosts) == ("demo-celeste", DEV_HOSTS)
    assert DEV_HOSTS == {AUTH_VAR: "127.0.0.1:9099", FIRESTORE_VAR: "127.0.0.1:8080"}


@pytest.mark.parametrize("flag", [False, True])
def test_emulator_variables_win_over_the_defaults(root: Path, flag: bool) -> None:
    target = resolve_target(project=None, emulator=flag, env=EMULATED, root=root)
    assert target.emulated and target.emulator_hosts == EMULATED
    assert "emulators" in target.describe()


def test_project_comes_from_the_environment_then_firebaserc(root: Path) -> None:
    env = {**EMULATED, "GCLOUD_PROJECT": "demo-other"}
    assert resolve_target(project=None, emulator=False, env=env, root=root).project == "demo-other"
    assert resolve_target(project=None, emulator=False, env=EMULATED, root=root).project == (
        "demo-celeste"
    )


def test_a_live_project_named_explicitly_uses_default_credentials(root: Path) -> None:
    target = resolve_target(project="shop-prod", emulator=False, env={}, root=root)
    assert (target.project, target.emulated) == ("shop-prod", False)
    assert "live project shop-prod" in target.describe()


@pytest.mark.parametrize(
    ("project", "emulator", "env", "why"),
    [
        (None, False, {"GCLOUD_PROJECT": "shop-prod"}, "--project"),
        (None, True, {"GOOGLE_CLOUD_PROJECT": "shop-prod"}, "--project"),
        (None, False, {}, "demo project"),
        ("demo-celeste", False, {}, "demo project"),
        (None, False, {AUTH_VAR: "127.0.0.1:9099"}, FIRESTORE_VAR),
        (None, True, {FIRESTORE_VAR: "127.0.0.1:8080"}, AUTH_VAR),
    ],
)
def test_refusals(
    root: Path, project: str | None, emulator: bool, env: dict[str, str], why: str
) -> None:
    with pytest.raises(Refused, match=why):
        resolve_target(project=project, emulator=emulator, env=env, root=root)


def test_refusal_exits_2_before_any_import_of_firebase(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in (AUTH_VAR, FIRESTORE_VAR, "GCLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GCLOUD_PROJECT", "shop-prod")
    assert main(["someone@example.com"]) == 2
    assert "--project" in capsys.readouterr().err
