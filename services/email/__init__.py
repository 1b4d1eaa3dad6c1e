"""The platform's one SMTP sender: alert e-mails and team invitations both go through it."""

from services.email.sender import EmailDeliveryError, EmailSender

__all__ = ["EmailDeliveryError", "EmailSender"]
