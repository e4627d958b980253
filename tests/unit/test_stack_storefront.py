"""Unit tests of the toolchain's storefront parts: the Hosting config and the app's config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import stack_config as stack
from tools.stack_config import Ports, serve_storefront, storefront_env


def test_the_storefront_origin_is_the_one_cors_allows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CELESTE_CORS_ORIGINS", raising=False)
    env = storefront_env(Ports(hosting=5123))
    assert env["CELESTE_STOREFRONT_URL"] == "http://127.0.0.1:5123"
    assert env["CELESTE_CORS_ORIGINS"] == "http://127.0.0.1:5123,http://localhost:5123"


def test_a_configured_cors_setting_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELESTE_CORS_ORIGINS", "https://shop.example.com")
    assert "CELESTE_CORS_ORIGINS" not in storefront_env(Ports(hosting=5123))


def test_hosting_serves_the_app_a_config_naming_this_runs_services(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack, "WEB_PUBLIC", tmp_path)
    ports = Ports(hosting=5123, functions=5124, auth=5125, firestore=5126)
    config = json.loads((stack.ROOT / "firebase.json").read_text())
    written = serve_storefront(config, ports)

    assert config["emulators"]["hosting"] == {"host": "127.0.0.1", "port": 5123}
    rewrite = config["hosting"]["rewrites"][0]
    assert rewrite == {"source": "/celeste-config.json", "destination": "/__dev/config-5123.json"}
    assert written == [tmp_path / "__dev" / "config-5123.json"]
    app = json.loads(written[0].read_text())
    assert app["functionsBaseUrl"] == "http://127.0.0.1:5124/demo-celeste/us-central1"
    assert app["authEmulatorUrl"] == "http://127.0.0.1:5125"
    assert app["firestoreEmulator"] == {"host": "127.0.0.1", "port": 5126}
    assert app["projectId"].startswith("demo-")


def test_the_dev_config_never_deploys() -> None:
    hosting = json.loads((stack.ROOT / "firebase.json").read_text())["hosting"]
    assert hosting["public"] == "web/public"
    assert "__dev/**" in hosting["ignore"]
