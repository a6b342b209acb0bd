"""The in-process webhook sender: delivers promptly after a commit queues something, and
retries what is due at least every few seconds. Several replicas may each run one
(deliveries are leased, see service.deliver_due)."""

from __future__ import annotations

import logging
import threading

from privacy.runtime import Runtime
from privacy.webhooks import service

log = logging.getLogger("privacy.webhooks.sender")

POLL_SECONDS = 5.0


class WebhookSender:
    def __init__(self, rt: Runtime, *, poll: float = POLL_SECONDS) -> None:
        self.rt = rt
        self.poll = min(poll, rt.settings.webhook_retry_base)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        service.WAKE.set()
        if self._thread is not None:
            self._thread.join(timeout=self.rt.settings.webhook_timeout + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            service.WAKE.wait(self.poll)
            service.WAKE.clear()
            if self._stop.is_set():
                return
            try:
                while service.deliver_due(self.rt) and not self._stop.is_set():
                    pass
            except Exception:  # keep the thread alive; the next round retries
                log.exception("webhook delivery round failed")
