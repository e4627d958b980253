"""``PaymentProvider`` on the official ``stripe`` library (real Stripe, or the local one)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from celeste.kernel.errors import Conflict, NotFound
from celeste.orders.payment_provider import (
    Intent,
    InvalidSignature,
    PaymentEvent,
    PaymentsNotConfigured,
    ProviderDispute,
    ProviderRefund,
    ProviderUnavailable,
)

if TYPE_CHECKING:
    import stripe

#: Refunds carry our key here too, so one made before a crash is found again even where the
#: server ignores ``Idempotency-Key`` (the local Stripe does).
REFUND_KEY_FIELD = "celeste_refund_key"


def _plain(obj: Any) -> dict[str, Any]:
    # The library's objects are not dicts (``.get`` is refused): read them as plain data.
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _intent(raw: Any) -> Intent:
    obj = _plain(raw)
    metadata = obj.get("metadata") or {}
    return Intent(
        id=str(obj["id"]),
        status=str(obj["status"]),
        amount=int(obj["amount"]),
        amount_received=int(obj.get("amount_received") or _charged(obj)),
        currency=str(obj["currency"]).upper(),
        order_id=metadata.get("order_id"),
        client_secret=obj.get("client_secret"),
    )


def _refund(raw: Any) -> ProviderRefund:
    obj = _plain(raw)
    key = (obj.get("metadata") or {}).get(REFUND_KEY_FIELD)
    return ProviderRefund(
        id=str(obj["id"]), amount=int(obj["amount"]), key=str(key) if key else None
    )


def _charged(obj: Any) -> int:
    # Older API shapes (and the local Stripe) report no ``amount_received``: a succeeded intent
    # received its amount.
    return int(obj["amount"]) if obj.get("status") == "succeeded" else 0


class StripePayments:
    """Talks to Stripe with a secret key; verifies webhook signatures with the endpoint secret."""

    def __init__(
        self,
        *,
        secret_key: str,
        publishable_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        timeout_s: float = 20.0,
    ) -> None:
        self._secret_key = secret_key
        self._publishable_key = publishable_key
        self._webhook_secret = webhook_secret
        self._api_base = api_base
        self._timeout_s = timeout_s
        self._client: stripe.StripeClient | None = None

    @property
    def publishable_key(self) -> str:
        return self._publishable_key

    def _stripe(self) -> stripe.StripeClient:
        if self._client is None:
            import stripe

            bases: Any = {"api": self._api_base} if self._api_base else None
            self._client = stripe.StripeClient(
                self._secret_key,
                base_addresses=bases,
                max_network_retries=2,
                http_client=stripe.RequestsClient(timeout=self._timeout_s),
            )
        return self._client

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call the library, translating its errors into domain ones (never a bare 500)."""
        import stripe

        try:
            return fn(*args, **kwargs)
        except (stripe.AuthenticationError, stripe.PermissionError):
            raise PaymentsNotConfigured(f"Stripe refused the secret key ({what})") from None
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise NotFound(f"Stripe knows no such object ({what})") from None
            raise Conflict(f"Stripe refused {what}: {exc.user_message or exc}") from None
        except stripe.StripeError as exc:  # connection, rate limit, API errors: retry later
            raise ProviderUnavailable(f"Stripe did not answer ({what}): {exc}") from None

    def create_intent(self, *, order_id: str, amount: int, currency: str) -> Intent:
        client = self._stripe()
        obj = self._call(
            "creating a PaymentIntent",
            client.v1.payment_intents.create,
            {
                "amount": amount,
                "currency": currency.lower(),
                "metadata": {"order_id": order_id},
                "payment_method_types": ["card"],
            },
            {"idempotency_key": order_id},
        )
        return _intent(obj)

    def retrieve_intent(self, intent_id: str) -> Intent:
        client = self._stripe()
        return _intent(
            self._call("reading a PaymentIntent", client.v1.payment_intents.retrieve, intent_id)
        )

    def cancel_intent(self, intent_id: str) -> Intent:
        client = self._stripe()
        try:
            obj = self._call(
                "cancelling a PaymentIntent", client.v1.payment_intents.cancel, intent_id
            )
        except Conflict:
            # Not cancellable any more (it succeeded, or was cancelled already): say how it is.
            return self.retrieve_intent(intent_id)
        return _intent(obj)

    def refund(self, *, intent_id: str, amount: int, key: str) -> ProviderRefund:
        client = self._stripe()
        listed = self._call(
            "listing refunds",
            client.v1.refunds.list,
            {"payment_intent": intent_id, "limit": 100},
        )
        for existing in map(_refund, listed.data):
            if existing.key == key:
                return existing
        obj = self._call(
            "refunding",
            client.v1.refunds.create,
            {"payment_intent": intent_id, "amount": amount, "metadata": {REFUND_KEY_FIELD: key}},
            {"idempotency_key": f"refund-{key}"},
        )
        return _refund(obj)

    def list_refunds(self, intent_id: str) -> list[ProviderRefund]:
        client = self._stripe()
        listed = self._call(
            "listing refunds",
            client.v1.refunds.list,
            {"payment_intent": intent_id, "limit": 100},
        )
        return [_refund(r) for r in listed.data if _plain(r).get("status") != "failed"]

    def retrieve_dispute(self, dispute_id: str) -> ProviderDispute:
        client = self._stripe()
        obj = _plain(self._call("reading a dispute", client.v1.disputes.retrieve, dispute_id))
        intent = obj.get("payment_intent")
        return ProviderDispute(
            id=str(obj["id"]),
            intent_id=str(intent) if intent else None,
            status=str(obj["status"]),
            reason=str(obj.get("reason") or ""),
            amount=int(obj["amount"]),
            currency=str(obj["currency"]).upper(),
        )

    def parse_event(self, *, payload: bytes, signature: str | None) -> PaymentEvent:
        import stripe

        if not signature:
            raise InvalidSignature("the Stripe-Signature header is missing")
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8"), signature, self._webhook_secret, tolerance=300
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError):
            raise InvalidSignature("the Stripe-Signature header does not verify") from None
        try:
            event = json.loads(payload)
            obj = event["data"]["object"]
            kind = obj.get("object")
            # The intent it is about: the object itself, or the intent of a charge or dispute.
            intent = obj.get("id") if kind == "payment_intent" else obj.get("payment_intent")
            if kind not in ("payment_intent", "charge", "dispute") or not isinstance(intent, str):
                intent = None
            dispute = obj.get("id") if kind == "dispute" else None
            return PaymentEvent(
                id=str(event["id"]),
                type=str(event["type"]),
                intent_id=intent,
                dispute_id=str(dispute) if dispute else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InvalidSignature("the signed payload is not a Stripe event") from None


def sign_payload(payload: bytes, *, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` header for ``payload`` as Stripe computes it (tests, tools)."""
    import hashlib
    import hmac

    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
