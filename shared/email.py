"""`EmailSender`: one message to a few recipients through the configured SMTP relay (aiosmtplib).

Shared: the SuperAgent sends team invitations with it, the MonitoringAgent alert e-mails.

Failures come out as `EmailDeliveryError` with `transient` saying whether trying again later can
help: 4xx replies and connection problems can, 5xx replies (and a disabled sender) cannot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from shared.config.models import EmailSettings

__all__ = ["EmailDeliveryError", "EmailSender", "is_transient_smtp_code"]


class EmailDeliveryError(Exception):
    """The relay did not take the message (or, when the message says so, not for every recipient)."""

    def __init__(self, message: str, transient: bool, *, code: int | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.code = code


def is_transient_smtp_code(code: int) -> bool:
    """4xx SMTP replies are temporary by RFC 5321; 5xx are not (and neither is anything else odd)."""
    return 400 <= code < 500


class EmailSender:
    def __init__(self, settings: EmailSettings) -> None:
        self._settings = settings
        # Message-IDs name the sender's domain, as RFC 5322 suggests.
        self._domain = settings.from_address.rpartition("@")[2]

    @property
    def enabled(self) -> bool:
        return self._settings.enabled

    @property
    def from_address(self) -> str:
        return self._settings.from_address

    def build_message(
        self,
        to: Sequence[str],
        subject: str,
        text: str,
        html: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> EmailMessage:
        """The message `send` would send (the default policy refuses header values with line breaks)."""
        message = EmailMessage()
        message["From"] = self._settings.from_address
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self._domain)
        for name, value in (headers or {}).items():
            message[name] = value
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message

    async def send(
        self,
        to: Sequence[str],
        subject: str,
        text: str,
        html: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send one message to `to`; raise `EmailDeliveryError` unless the relay accepted all of them."""
        settings = self._settings
        if not settings.enabled:
            raise EmailDeliveryError(
                "e-mail is disabled on this installation (email.enabled)", transient=False
            )
        recipients = list(to)
        if not recipients:
            raise EmailDeliveryError("no recipients", transient=False)
        message = self.build_message(recipients, subject, text, html, headers)
        try:
            refused, _ = await aiosmtplib.send(
                message,
                sender=settings.from_address,
                recipients=recipients,
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=settings.password.get_secret_value() if settings.password else None,
                use_tls=settings.use_tls,
                # False, not None: None would upgrade opportunistically, so whether a message
                # travels encrypted would depend on what the relay happens to advertise.
                start_tls=settings.starttls,
                timeout=settings.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refusal.code for refusal in error.recipients]
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
            raise EmailDeliveryError(
                f"every recipient was refused: {detail}",
                transient=all(is_transient_smtp_code(code) for code in codes),
                code=codes[0] if codes else None,
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            raise EmailDeliveryError(
                f"SMTP server answered {error.code}: {error.message}",
                transient=is_transient_smtp_code(error.code),
                code=error.code,
            ) from error
        except OSError as error:
            # Connect failures, timeouts, disconnects (aiosmtplib's are OSErrors too): the relay
            # may well be back soon.
            raise EmailDeliveryError(
                f"SMTP connection to {settings.host}:{settings.port} failed: {error}", transient=True
            ) from error
        except aiosmtplib.SMTPException as error:
            # The rest is a mismatch of settings and server (STARTTLS or AUTH asked for but not
            # offered): trying again will not change it.
            raise EmailDeliveryError(
                f"SMTP relay {settings.host}:{settings.port}: {error}", transient=False
            ) from error
        if refused:
            # Some recipients took it; a retry would send those a second copy, so report, don't retry.
            detail = "; ".join(
                f"{address}: {reply.code} {reply.message}" for address, reply in refused.items()
            )
            raise EmailDeliveryError(
                f"sent, but these recipients were refused: {detail}",
                transient=False,
                code=next(iter(refused.values())).code,
            )
