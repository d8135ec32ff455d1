"""A host's start-up and shutdown: store, task handlers, allowlists, plugin
lifespans, the runner and the background janitors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from . import telemetry
from .delivery import DELIVERY
from .errors import HostlineError
from .plugins import Channel
from .samples import Sampler

if TYPE_CHECKING:
    from .config import Config
    from .host import Host
    from .store import Store

__all__ = ["EPHEMERAL_ENV", "StartupError", "check_runtime", "host_lifespan"]

log = logging.getLogger("hostline")

EPHEMERAL_ENV = ("FOUNDRY_HOSTING_ENVIRONMENT", "AZURE_FUNCTIONS_ENVIRONMENT",
                 "AWS_LAMBDA_FUNCTION_NAME", "K_SERVICE")


class StartupError(HostlineError):
    """One or more lifespans failed to start; the message lists all of them."""


@contextlib.asynccontextmanager
async def host_lifespan(host: Host) -> AsyncIterator[None]:
    """Open the store, enter every plugin lifespan, start the runner; on
    exit, stop the runner, give runs in flight ``shutdown_grace`` seconds,
    exit the lifespans and close the store.

    All lifespan failures are reported together in one :class:`StartupError`.
    """
    check_runtime(host.config)
    await host.store.open()
    host.runner.register(DELIVERY, host.delivery.handle)
    for handlers in await host.collect("hostline_task_handlers", host=host):
        for kind, handler in dict(handlers).items():
            host.runner.register(kind, handler)
    stack = contextlib.AsyncExitStack()
    errors: list[str] = []
    # Allowlists are built (and so validated) once, at start-up.
    host.allowlists = {}
    for channel in host.channels:
        try:
            host.allowlists[channel] = await host.collect(
                "hostline_allowlists", channel=channel, host=host)
        except Exception as exc:  # noqa: BLE001 - every failure goes in the report
            errors.append(f"  {channel} allowlists: {type(exc).__name__}: {exc}")
    def label(impl: Any) -> str:
        return str(impl.plugin.name if isinstance(impl.plugin, Channel)
                   else impl.plugin_name)

    def failed(impl: Any, exc: BaseException) -> None:
        errors.append(f"  {label(impl)}: {type(exc).__name__}: {exc}")

    labels: dict[int, str] = {}

    def note_label(impl: Any, cm: Any) -> Any:
        labels[id(cm)] = label(impl)
        return cm

    managers = await host.hooks.collect("hostline_lifespan", host=host, on_error=failed,
                                        each=note_label)
    for cm in reversed(managers):  # registration order
        try:
            await stack.enter_async_context(cm)
        except Exception as exc:  # noqa: BLE001 - every failure goes in the report
            errors.append(f"  {labels.get(id(cm), 'a lifespan wrapper')}: "
                          f"{type(exc).__name__}: {exc}")
    if errors:
        await stack.aclose()
        await host.store.close()
        raise StartupError("start-up failed:\n" + "\n".join(errors))
    await host.runner.start(claim=host.role != "web")
    janitor = asyncio.create_task(_janitor(host.store), name="hostline-janitor")
    sampler = Sampler(host.store, host.runner.owner, host.runner.outcomes,
                      lambda: host.queue_depth)
    sampler.start()
    tel, own_tel = host.telemetry, host.telemetry is None
    if tel is None:
        tel = host.telemetry = telemetry.from_config(host.config, host.role)
    if tel is not None:
        tel.bind(host)
        telemetry.active = tel
    if host.error_log is not None:
        logging.getLogger().addHandler(host.error_log)
    host.ready = True
    log.info("hostline ready: target %s, channels %s", host.target.name,
             ", ".join(host.channels) or "none")
    try:
        yield
    finally:
        host.ready = False
        janitor.cancel()
        grace = host.config.host.shutdown_grace
        await host.runner.stop(grace)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(host.runs.idle.wait(), grace)
        await sampler.stop()
        if host.error_log is not None:
            logging.getLogger().removeHandler(host.error_log)
        if tel is not None:
            if telemetry.active is tel:
                telemetry.active = None
            tel.shutdown()
            if own_tel:
                host.telemetry = None
        await stack.aclose()
        await host.store.close()

async def _janitor(store: Store, period: float = 300.0) -> None:
    """Expired dedupe keys and link codes are deleted now and then, so the
    store does not grow with traffic."""
    while True:
        try:
            await store.purge_expired()
        except Exception:
            log.warning("purging expired records failed", exc_info=True)
        await asyncio.sleep(period)

def check_runtime(config: Config) -> None:
    """Refuse an in-process runner on hosts that freeze or kill idle processes."""
    found = [name for name in EPHEMERAL_ENV if os.environ.get(name)]
    if found and not config.host.allow_in_process_runner:
        raise StartupError(
            f"{config.source}: [host]: this looks like an ephemeral host ({found[0]} "
            "is set): queued deliveries and background runs could be frozen or lost "
            "between requests. Run hostline on an always-on host, or set "
            "allow_in_process_runner = true in [host] to accept the risk.")
