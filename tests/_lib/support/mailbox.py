"""A real local SMTP server (aiosmtpd) for tests, and signing in as a data subject."""

from __future__ import annotations

import email
import re
import threading
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient

from support.openbao import free_port

CODE = re.compile(r"code is (\d{6})")


@dataclass
class Mailbox:
    """Messages the SMTP server accepted, in order."""

    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def last_code(self, address: str) -> str:
        msgs = self.to(address)
        assert msgs, f"no mail to {address}"
        payload = msgs[-1].get_payload(decode=True)
        found = CODE.search(payload.decode())
        assert found, "no code in the mail"
        return found.group(1)


class SmtpServer:
    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def subject_headers(client: TestClient, mailbox: Mailbox, address: str) -> dict[str, str]:
    """Sign in as the subject(s) with `address` through the API: start, read mail, verify."""
    r = client.post("/v1/subject-auth/start", json={"email": address})
    assert r.status_code == 202, r.text
    code = mailbox.last_code(address)
    r = client.post("/v1/subject-auth/verify", json={"email": address, "code": code})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
