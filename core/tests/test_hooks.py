"""Every hook goes through one caller that keeps pluggy's promises.

For each of the hooks, a new-style ``wrapper`` and an old-style
``hookwrapper`` run around the plain implementations, see their result and
may replace it; ``tryfirst``/``trylast`` order the plain ones.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from hostline import (
    AllowlistDecision,
    CallableAllowlist,
    Command,
    DeliveryReceipt,
    Denied,
    Destination,
    Feedback,
    Host,
    Identity,
    Message,
    RunRequest,
    RunResult,
    hookimpl,
    hookspecs,
)
from hostline.testing import make_host, run_host

from .conftest import eventually


class Log:
    """Records the order of calls across plugins."""

    def __init__(self) -> None:
        self.calls: list[str] = []


def wrapper_plugin(log: Log, hook: str, replace: Any = None) -> Any:
    """A plugin with a new-style wrapper of ``hook`` that logs around the
    others and, with ``replace``, returns ``replace(result)``."""
    # A real generator function with the hook's own argument names, as a
    # plugin author would write it by hand.
    args = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    namespace: dict[str, Any] = {"log": log, "replace": replace, "shape": _shape}
    exec(f"def {hook}(self, {args}):\n"
         "    log.calls.append('wrapper:before')\n"
         "    result = yield\n"
         "    log.calls.append(f'wrapper:after:{shape(result)}')\n"
         "    return replace(result) if replace else result\n", namespace)
    return type(f"Wrap_{hook}", (), {hook: hookimpl(wrapper=True)(namespace[hook])})()


def _shape(result: Any) -> str:
    if isinstance(result, list):
        return f"list{len(result)}"
    return type(result).__name__


async def test_routes_wrapper(tmp_path: Path) -> None:
    log = Log()

    class Plain:
        @hookimpl
        def hostline_routes(self, host: Host) -> Any:
            log.calls.append("plain")
            return [Route("/hello", lambda r: PlainTextResponse("hi"))]

    def add_route(result: list[Any]) -> list[Any]:
        return [*result, [Route("/added", lambda r: PlainTextResponse("added"))]]

    host = make_host(tmp_path, plugins=[Plain(), wrapper_plugin(log, "hostline_routes",
                                                                add_route)])
    async with run_host(host) as (_, client):
        assert (await client.get("/hello")).text == "hi"
        assert (await client.get("/added")).text == "added"
    assert log.calls[:3] == ["wrapper:before", "plain", "wrapper:after:list1"]


async def test_lifespan_wrapper(tmp_path: Path) -> None:
    log = Log()

    class Plain:
        @hookimpl
        def hostline_lifespan(self, host: Host) -> Any:
            log.calls.append("plain")

            @contextlib.asynccontextmanager
            async def run() -> AsyncIterator[None]:
                log.calls.append("entered")
                yield

            return run()

    host = make_host(tmp_path, plugins=[Plain(), wrapper_plugin(log, "hostline_lifespan")])
    async with run_host(host):
        pass
    assert log.calls == ["wrapper:before", "plain", "wrapper:after:list1", "entered"]


async def test_commands_wrapper_adds_a_command(tmp_path: Path) -> None:
    log = Log()

    def add(result: list[Any]) -> list[Any]:
        return [*result, [Command("ping", "answers pong", lambda ctx: "pong", public=True)]]

    host = make_host(tmp_path, plugins=[wrapper_plugin(log, "hostline_commands", add)])
    async with run_host(host):
        assert await host.dispatch_command("/ping", channel="c", scope="s") == "pong"
        assert "help" in await host.commands()  # the built-ins are still there
    assert log.calls[0] == "wrapper:before"


async def test_run_hook_chain_order_and_wrapper(tmp_path: Path) -> None:
    log = Log()

    class First:
        @hookimpl(tryfirst=True)
        def hostline_run_hook(self, request: RunRequest) -> Any:
            log.calls.append("first")
            return attrs.evolve(request, options={**request.options, "seen": ["first"]})

    class Last:
        @hookimpl(trylast=True)
        async def hostline_run_hook(self, request: RunRequest) -> Any:
            log.calls.append("last")
            return attrs.evolve(request, options={"seen": [*request.options["seen"], "last"]})

    def stamp(request: RunRequest) -> RunRequest:
        return attrs.evolve(request, options={**request.options, "wrapped": True})

    # Registered last would run first; trylast/tryfirst override registration order.
    host = make_host(tmp_path, plugins=[First(), wrapper_plugin(log, "hostline_run_hook", stamp),
                                        Last()])
    async with run_host(host):
        turn = await host.begin_turn(channel="c", scope="s", input=[Message.user("x")])
    assert turn.request.options == {"seen": ["first", "last"], "wrapped": True}
    assert log.calls == ["wrapper:before", "first", "last", "wrapper:after:RunRequest"]


async def test_response_hook_old_style_wrapper(tmp_path: Path) -> None:
    calls: list[str] = []

    class Plain:
        @hookimpl
        def hostline_response_hook(self, context: Any) -> Any:
            calls.append("plain")
            return RunResult.from_text(context.result.text.upper())

    class OldStyle:
        @hookimpl(hookwrapper=True)
        def hostline_response_hook(self, context: Any) -> Any:
            calls.append("before")
            outcome = yield
            result = outcome.get_result()
            calls.append(f"after:{result.text}")
            outcome.force_result(RunResult.from_text(result.text + "!"))

    host = make_host(tmp_path, plugins=[Plain(), OldStyle()])
    async with run_host(host):
        turn = await host.begin_turn(channel="c", scope="s", input=[Message.user("hey")])
        reply = await turn.run()
    assert reply is not None and reply.text == "HEY!"
    assert calls == ["before", "plain", "after:HEY"]


async def test_response_hook_drop_is_seen_by_wrapper(tmp_path: Path) -> None:
    log = Log()

    class Drop:
        @hookimpl
        def hostline_response_hook(self, context: Any) -> Any:
            return False

    host = make_host(tmp_path, plugins=[Drop(), wrapper_plugin(log, "hostline_response_hook")])
    async with run_host(host):
        turn = await host.begin_turn(channel="c", scope="s", input=[Message.user("hey")])
        assert await turn.run() is None
    assert log.calls == ["wrapper:before", "wrapper:after:NoneType"]


async def test_push_is_firstresult_and_wrapped(tmp_path: Path) -> None:
    log = Log()
    dest = Destination("elsewhere", "addr")

    class Answers:
        @hookimpl
        async def hostline_push(self, destination: Destination, message: Message) -> Any:
            log.calls.append("answers")
            return DeliveryReceipt(destination, ("1",))

    class Earlier:
        @hookimpl(tryfirst=True)
        def hostline_push(self, destination: Destination) -> Any:
            log.calls.append("earlier")  # returns None: the next one is asked

    class Never:
        @hookimpl(trylast=True)
        def hostline_push(self, destination: Destination) -> Any:
            log.calls.append("never")
            return DeliveryReceipt(destination, ("2",))

    host = make_host(tmp_path, plugins=[Never(), Answers(), Earlier(),
                                        wrapper_plugin(log, "hostline_push")])
    async with run_host(host):
        receipt = await host.delivery.send(dest, Message.assistant("x"), "k")
    assert receipt.message_ids == ("1",)
    assert log.calls == ["wrapper:before", "earlier", "answers",
                         "wrapper:after:DeliveryReceipt"]


async def test_allowlists_wrapper_adds_a_deny(tmp_path: Path) -> None:
    log = Log()

    def deny_all(result: list[Any]) -> list[Any]:
        return [*result, CallableAllowlist(lambda ctx: AllowlistDecision.DENY)]

    host = make_host(tmp_path, plugins=[wrapper_plugin(log, "hostline_allowlists", deny_all)])
    async with run_host(host):
        decision = await host.authorize("c", Identity("c", "1"))
    assert isinstance(decision, Denied)
    assert log.calls[0] == "wrapper:before"


async def test_identity_linkers_wrapper(tmp_path: Path) -> None:
    log = Log()
    host = make_host(tmp_path, plugins=[wrapper_plugin(log, "hostline_identity_linkers")])
    async with run_host(host):
        linkers = await host.collect("hostline_identity_linkers", host=host)
    assert len(linkers) == 1  # the built-in one-time-code linker
    assert log.calls == ["wrapper:before", "wrapper:after:list1"]


async def test_task_handlers_wrapper_adds_a_handler(tmp_path: Path) -> None:
    log = Log()
    handled: list[Any] = []

    async def handle(task: Any) -> None:
        handled.append(task.payload)

    def add(result: list[Any]) -> list[Any]:
        return [*result, {"custom": handle}]

    host = make_host(tmp_path, plugins=[wrapper_plugin(log, "hostline_task_handlers", add)])
    async with run_host(host):
        await host.runner.enqueue("custom", {"n": 1}, partition="p", key="k1")
        await eventually(lambda: handled == [{"n": 1}])


async def test_new_style_wrapper_sees_and_can_handle_an_exception(tmp_path: Path) -> None:
    class Fails:
        @hookimpl
        def hostline_run_hook(self, request: RunRequest) -> Any:
            raise RuntimeError("boom")

    class Rescues:
        @hookimpl(wrapper=True)
        def hostline_run_hook(self, request: RunRequest) -> Any:
            try:
                return (yield)
            except RuntimeError:
                return attrs.evolve(request, options={"rescued": True})

    host = make_host(tmp_path, plugins=[Fails(), Rescues()])
    async with run_host(host):
        turn = await host.begin_turn(channel="c", scope="s", input=[Message.user("x")])
    assert turn.request.options == {"rescued": True}


async def test_an_exception_passes_through_wrappers_that_do_not_catch_it(tmp_path: Path) -> None:
    seen: list[str] = []

    class Fails:
        @hookimpl
        def hostline_run_hook(self, request: RunRequest) -> Any:
            raise RuntimeError("boom")

    class Watches:
        @hookimpl(hookwrapper=True)
        def hostline_run_hook(self, request: RunRequest) -> Any:
            outcome = yield
            seen.append(type(outcome.exception).__name__)

    host = make_host(tmp_path, plugins=[Fails(), Watches()])
    async with run_host(host):
        with pytest.raises(RuntimeError, match="boom"):
            await host.begin_turn(channel="c", scope="s", input=[Message.user("x")])
    assert seen == ["RuntimeError"]


async def test_feedback_wrapper_and_failing_implementation(tmp_path: Path) -> None:
    log = Log()
    got: list[str] = []

    class Records:
        @hookimpl
        async def hostline_feedback(self, feedback: Feedback) -> None:
            got.append(feedback.rating)

    class Fails:
        @hookimpl(tryfirst=True)
        def hostline_feedback(self, feedback: Feedback) -> None:
            raise RuntimeError("metrics down")

    host = make_host(tmp_path, plugins=[Records(), Fails(),
                                        wrapper_plugin(log, "hostline_feedback")])
    async with run_host(host):
        taken = await host.feedback(Feedback("c", "positive", answer="42"))
    assert (taken, got) == (1, ["positive"])
    assert log.calls == ["wrapper:before", "wrapper:after:list0"]
