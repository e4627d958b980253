"""``Mailer`` on SMTP (the standard library's ``smtplib``): one multipart/alternative message
(plain text and HTML) to ``CELESTE_SMTP_HOST``:``CELESTE_SMTP_PORT``, from ``CELESTE_MAIL_FROM``.

A recipient the server refuses for good (a 5xx for the address) is ``Undeliverable``; any other
failure raises as it is, so the delivery task retries.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from celeste.notifications.messages import Message
from celeste.ports.notifications import Undeliverable

TIMEOUT_S = 15.0


def email_of(*, sender: str, to: str, message: Message, message_id: str) -> EmailMessage:
    """The email: headers, the plain text part and its HTML alternative."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = to
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Message-ID"] = message_id
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


class SmtpMailer:
    """Sends each email over a new SMTP connection (STARTTLS when configured)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        starttls: bool = False,
    ) -> None:
        self._host = host
        self._port = port
        self._sender = sender
        self._starttls = starttls

    def send(self, *, to: str, message: Message, message_id: str) -> None:
        email = email_of(sender=self._sender, to=to, message=message, message_id=message_id)
        with smtplib.SMTP(self._host, self._port, timeout=TIMEOUT_S) as smtp:
            if self._starttls:
                smtp.starttls()
            try:
                smtp.send_message(email)
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                if all(500 <= code < 600 for code in codes):
                    raise Undeliverable(f"the mail server refused {to}: {codes}") from None
                raise
