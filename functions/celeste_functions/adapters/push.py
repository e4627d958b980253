"""``Pusher`` on FCM's HTTP v1 API: ``POST {base}/v1/projects/{project}/messages:send``.

The base URL is configuration (``CELESTE_FCM_URL``): ``https://fcm.googleapis.com`` in
production, with an OAuth token from the runtime's credentials (scope ``firebase.messaging``);
the loopback fake locally (``tools/fake_fcm.py``), with no auth in ``demo-`` projects. A token
FCM reports dead (404 ``UNREGISTERED``, or 400 ``INVALID_ARGUMENT`` about the token) answers
``unregistered``; anything else not 2xx raises, so the delivery task retries.
"""

from __future__ import annotations

from typing import Any

from celeste.ports.notifications import PushAnswer

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
TIMEOUT_S = 10.0


class PushFailed(Exception):
    """FCM answered with an error worth retrying (or could not be reached)."""


def dead_token(status: int, body: Any) -> bool:
    """Whether FCM's error answer says the registration token is dead or not a token."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return False
    codes = {
        detail.get("errorCode") for detail in error.get("details") or [] if isinstance(detail, dict)
    }
    if status == 404 and ("UNREGISTERED" in codes or error.get("status") == "NOT_FOUND"):
        return True
    message = str(error.get("message", "")).lower()
    return status == 400 and "INVALID_ARGUMENT" in codes and "token" in message


class FcmPusher:
    """Sends one notification message to one device token."""

    def __init__(self, *, base_url: str, project_id: str, authenticated: bool) -> None:
        self._url = f"{base_url.rstrip('/')}/v1/projects/{project_id}/messages:send"
        self._authenticated = authenticated
        self._session: Any = None

    def _http(self) -> Any:
        if self._session is None:
            if self._authenticated:
                import google.auth
                from google.auth.transport.requests import AuthorizedSession

                credentials, _ = google.auth.default(scopes=[SCOPE])
                self._session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
            else:
                import requests

                self._session = requests.Session()
        return self._session

    def send(self, *, token: str, title: str, body: str, data: dict[str, str]) -> PushAnswer:
        import requests

        message = {
            "message": {
                "token": token,
                "notification": {"title": title, "body": body},
                "data": data,
            }
        }
        try:
            response = self._http().post(self._url, json=message, timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            raise PushFailed(f"FCM unreachable: {exc}") from None
        if 200 <= response.status_code < 300:
            return "sent"
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if dead_token(response.status_code, answer):
            return "unregistered"
        raise PushFailed(f"FCM answered {response.status_code}: {response.text[:300]}")
