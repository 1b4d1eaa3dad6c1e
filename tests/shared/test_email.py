"""EmailSender against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.config.models import EmailSettings
from shared.email import EmailDeliveryError, EmailSender
from tests.email.smtp_server import SmtpServer, smtp_server
from tests.fixtures.stack import free_port


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


async def test_sends_text_and_html_to_every_recipient(smtp: SmtpServer) -> None:
    """The relay receives one message for all recipients, with our From, Subject, headers and both bodies."""
    sender = EmailSender(smtp.settings())
    await sender.send(
        ["a@example.com", "b@example.com"],
        "Budget at 80%",
        "You have used 80% of the budget.",
        html="<p>You have used <b>80%</b> of the budget.</p>",
        headers={"X-MNO-Alert-Id": "alert-1"},
    )
    [received] = smtp.handler.received
    assert received.mail_from == "alerts@mno.test"
    assert received.rcpt_tos == ["a@example.com", "b@example.com"]
    message = received.message
    assert message["Subject"] == "Budget at 80%"
    assert message["From"] == "alerts@mno.test"
    assert message["To"] == "a@example.com, b@example.com"
    assert message["X-MNO-Alert-Id"] == "alert-1"
    assert message["Message-ID"].endswith("@mno.test>")
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None
    assert html_part is not None
    assert text_part.get_content().strip() == "You have used 80% of the budget."
    assert "<b>80%</b>" in html_part.get_content()


async def test_a_4xx_reply_is_transient(smtp: SmtpServer) -> None:
    """A 451 reply to DATA raises EmailDeliveryError with transient=True and the code."""
    smtp.handler.data_reply = "451 4.3.0 Try again later"
    with pytest.raises(EmailDeliveryError) as caught:
        await EmailSender(smtp.settings()).send(["a@example.com"], "s", "t")
    assert caught.value.transient is True
    assert caught.value.code == 451


async def test_a_5xx_reply_is_permanent(smtp: SmtpServer) -> None:
    """A 554 reply to DATA raises EmailDeliveryError with transient=False."""
    smtp.handler.data_reply = "554 5.7.1 Rejected"
    with pytest.raises(EmailDeliveryError) as caught:
        await EmailSender(smtp.settings()).send(["a@example.com"], "s", "t")
    assert caught.value.transient is False
    assert caught.value.code == 554


async def test_every_recipient_refused_is_classified_by_its_codes(smtp: SmtpServer) -> None:
    """All recipients refused with 550 is permanent; with 450 it is transient."""
    sender = EmailSender(smtp.settings())
    smtp.handler.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
    with pytest.raises(EmailDeliveryError) as permanent:
        await sender.send(["gone@example.com"], "s", "t")
    assert permanent.value.transient is False
    smtp.handler.rcpt_replies["busy@example.com"] = "450 4.2.1 Mailbox busy"
    with pytest.raises(EmailDeliveryError) as transient:
        await sender.send(["busy@example.com"], "s", "t")
    assert transient.value.transient is True
    assert smtp.handler.received == []


async def test_a_partly_refused_message_is_reported_not_retried(smtp: SmtpServer) -> None:
    """When some recipients are accepted, the message is delivered to them and the error is permanent."""
    smtp.handler.rcpt_replies["gone@example.com"] = "550 5.1.1 No such user"
    with pytest.raises(EmailDeliveryError) as caught:
        await EmailSender(smtp.settings()).send(["ok@example.com", "gone@example.com"], "s", "t")
    assert caught.value.transient is False
    assert "gone@example.com" in str(caught.value)
    assert [r.rcpt_tos for r in smtp.handler.received] == [["ok@example.com"]]


async def test_nothing_listening_is_transient() -> None:
    """A refused connection raises a transient EmailDeliveryError."""
    settings = EmailSettings(enabled=True, host="127.0.0.1", port=free_port(), timeout_seconds=2)
    with pytest.raises(EmailDeliveryError) as caught:
        await EmailSender(settings).send(["a@example.com"], "s", "t")
    assert caught.value.transient is True


async def test_a_disabled_sender_refuses_permanently(smtp: SmtpServer) -> None:
    """With email.enabled false nothing is sent and the error is permanent."""
    with pytest.raises(EmailDeliveryError) as caught:
        await EmailSender(smtp.settings(enabled=False)).send(["a@example.com"], "s", "t")
    assert caught.value.transient is False
    assert smtp.handler.received == []


async def test_required_starttls_that_the_server_lacks_is_permanent(smtp: SmtpServer) -> None:
    """email.starttls against a relay that offers no STARTTLS fails permanently (no silent plain text)."""
    with pytest.raises(EmailDeliveryError) as caught:
        await EmailSender(smtp.settings(starttls=True)).send(["a@example.com"], "s", "t")
    assert caught.value.transient is False
    assert smtp.handler.received == []


def test_header_injection_is_refused() -> None:
    """A subject with a line break cannot smuggle in extra headers: building the message fails."""
    sender = EmailSender(EmailSettings(enabled=True))
    with pytest.raises(ValueError, match="linefeed or carriage return"):
        sender.build_message(["a@example.com"], "hi\r\nBcc: evil@example.com", "t")
