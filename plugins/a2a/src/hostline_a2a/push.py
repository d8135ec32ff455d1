"""Push notifications as durable outbox deliveries.

The SDK calls :meth:`OutboxPushSender.send_notification` for each task
event; each configured webhook gets one outbox task, committed before
anything is sent and keyed by (config, task, event), so a resend after a
crash or a retry is deduplicated. The runner posts it the way the SDK's own
sender does (the StreamResponse JSON, ``X-A2A-Notification-Token``,
``Authorization``), retrying on connection errors, 408, 429 and 5xx with the
host's backoff.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import httpx
from a2a.server.tasks.push_notification_sender import PushNotificationEvent, PushNotificationSender
from a2a.utils.proto_utils import to_stream_response
from google.protobuf.json_format import MessageToDict

from hostline import Host, PermanentDeliveryError, RetryableDeliveryError, Task

from .stores import PushConfigs

__all__ = ["OutboxPushSender"]

log = logging.getLogger("hostline.a2a")


class OutboxPushSender(PushNotificationSender):
    """Queues one outbox delivery per webhook and event; delivers them from the runner."""

    def __init__(self, host: Host, configs: PushConfigs, kind: str) -> None:
        self.host = host
        self.configs = configs
        self.kind = kind
        self.client: httpx.AsyncClient | None = None

    async def send_notification(self, task_id: str, event: PushNotificationEvent) -> None:
        """Commit a delivery of ``event`` to every webhook of ``task_id``."""
        configs = await self.configs.get_info_for_dispatch(task_id)
        if not configs:
            return
        body = MessageToDict(to_stream_response(event))
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]
        for config in configs:
            auth = None
            if config.HasField("authentication") and config.authentication.scheme \
                    and config.authentication.credentials:
                auth = f"{config.authentication.scheme} {config.authentication.credentials}"
            await self.host.runner.enqueue(
                self.kind,
                {"url": config.url, "token": config.token or None, "authorization": auth,
                 "body": body},
                partition=f"a2a-push:{task_id}:{config.id}",
                key=f"{task_id}:{config.id}:{digest}")

    async def deliver(self, task: Task) -> None:
        """The runner's handler: POST one notification."""
        payload = task.payload
        headers = {"content-type": "application/json"}
        if payload.get("token"):
            headers["X-A2A-Notification-Token"] = str(payload["token"])
        if payload.get("authorization"):
            headers["Authorization"] = str(payload["authorization"])
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        try:
            response = await self.client.post(str(payload["url"]), json=payload["body"],
                                              headers=headers)
        except httpx.HTTPError as exc:
            raise RetryableDeliveryError(f"webhook unreachable: {type(exc).__name__}") from None
        if response.status_code in (408, 425, 429) or response.status_code >= 500:
            raise RetryableDeliveryError(f"webhook answered {response.status_code}")
        if response.status_code >= 400:
            raise PermanentDeliveryError(f"webhook answered {response.status_code}")

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    def handlers(self) -> dict[str, Any]:
        """``{kind: handler}`` for ``hostline_task_handlers``."""
        return {self.kind: self.deliver}
