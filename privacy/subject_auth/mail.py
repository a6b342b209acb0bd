"""Mail to data subjects: through `PRIVACY_SMTP_URL`, or as .eml files in development.

Logs never carry the address or the message, only that a mail was or was not sent.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from privacy.config import Settings
from privacy.db import utcnow

log = logging.getLogger("privacy.mail")
SMTP_TIMEOUT = 15.0


def sign_in_message(settings: Settings, *, to: str, code: str, minutes: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = "Your sign-in code"
    msg.set_content(
        f"Your one-time code is {code}.\n\n"
        f"It is valid for {minutes} minutes and works once. If you did not ask for it, "
        "ignore this message: nobody can sign in without the code.\n"
    )
    return msg


def deliver(settings: Settings, msg: EmailMessage) -> bool:
    """Send `msg`; False (and an error logged without the address) if it could not be."""
    try:
        if settings.smtp_url is not None:
            _smtp(settings.smtp_url.get_secret_value(), msg)
        elif settings.env == "development":
            _outbox(settings.data_dir / "outbox", msg)
        else:
            log.error("mail not sent: PRIVACY_SMTP_URL is not set (required in production)")
            return False
    except (OSError, smtplib.SMTPException) as exc:
        log.error("mail not sent: %s", type(exc).__name__)
        return False
    return True


def _smtp(url: str, msg: EmailMessage) -> None:
    u = urlparse(url)
    starttls = parse_qs(u.query).get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
    host = u.hostname or "localhost"
    if u.scheme == "smtps":
        ctx = ssl.create_default_context()
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, u.port or 465, timeout=SMTP_TIMEOUT, context=ctx
        )
    else:
        client = smtplib.SMTP(host, u.port or 25, timeout=SMTP_TIMEOUT)
    with client:
        if starttls:
            client.starttls(context=ssl.create_default_context())
        if u.username:
            client.login(unquote(u.username), unquote(u.password or ""))
        client.send_message(msg)


def _outbox(folder: Path, msg: EmailMessage) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{utcnow().strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:8]}.eml"
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(msg.as_bytes())
