"""Allowlists, decisions and identity linking."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostline import (
    AllOf,
    AllowAll,
    Allowed,
    AllowlistDecision,
    AnyOf,
    AuthorizationContext,
    CallableAllowlist,
    ChannelConfigurationError,
    ConfigError,
    Denied,
    Identity,
    LinkedClaimAllowlist,
    LinkRequired,
    NativeIdAllowlist,
    hookimpl,
    load_config,
)
from hostline.auth import combine, decide
from hostline.testing import make_host, run_host

ALLOW, DENY, ABSTAIN = AllowlistDecision.ALLOW, AllowlistDecision.DENY, AllowlistDecision.ABSTAIN
CTX = AuthorizationContext("t", Identity("t", "1"))


class Fixed:
    def __init__(self, decision: AllowlistDecision) -> None:
        self.decision = decision

    def check(self, context: AuthorizationContext) -> AllowlistDecision:
        return self.decision


decisions = st.lists(st.sampled_from([ALLOW, DENY, ABSTAIN]), min_size=1, max_size=8)


async def run(allowlist: Any) -> AllowlistDecision:
    return await decide(allowlist, CTX)


@settings(max_examples=300, deadline=None)
@given(ds=decisions, abstains=st.integers(0, 4), pos=st.integers(0, 8))
async def test_any_of_properties(ds: list[AllowlistDecision], abstains: int, pos: int) -> None:
    out = await run(AnyOf([Fixed(d) for d in ds]))
    if DENY in ds:
        assert out is DENY  # a DENY anywhere means not allowed
    assert (out is ALLOW) == (DENY not in ds and ALLOW in ds)  # boolean OR of the allows
    padded = list(ds)
    for _ in range(abstains):
        padded.insert(pos % (len(padded) + 1), ABSTAIN)
    assert await run(AnyOf([Fixed(d) for d in padded])) is out  # ABSTAIN changes nothing
    assert combine(ds) is out


@settings(max_examples=300, deadline=None)
@given(ds=decisions, abstains=st.integers(0, 4))
async def test_all_of_properties(ds: list[AllowlistDecision], abstains: int) -> None:
    out = await run(AllOf([Fixed(d) for d in ds]))
    voting = [d for d in ds if d is not ABSTAIN]
    if DENY in ds:
        assert out is DENY
    assert (out is ALLOW) == (bool(voting) and all(d is ALLOW for d in voting))  # boolean AND
    padded = ds + [ABSTAIN] * abstains
    assert await run(AllOf([Fixed(d) for d in padded])) is out


@settings(max_examples=200, deadline=None)
@given(a=decisions, b=decisions)
async def test_nesting_keeps_deny(a: list[AllowlistDecision], b: list[AllowlistDecision]) -> None:
    nested = AnyOf([AllOf([Fixed(d) for d in a]), AnyOf([Fixed(d) for d in b])])
    if DENY in a or DENY in b:
        assert await run(nested) is DENY


async def test_builtins() -> None:
    assert await run(AllowAll()) is ALLOW
    assert await run(NativeIdAllowlist(["1"])) is ALLOW
    assert await run(NativeIdAllowlist(["t:1"])) is ALLOW
    assert await run(NativeIdAllowlist(["2"])) is ABSTAIN
    linked = AuthorizationContext("t", Identity("t", "1"), "u",
                                  (Identity("teams", "x", claims={"tenant_id": "T"}),))
    assert await decide(LinkedClaimAllowlist({"tenant_id": ["T"]}), linked) is ALLOW
    assert await run(LinkedClaimAllowlist({"tenant_id": ["T"]})) is ABSTAIN
    assert await run(CallableAllowlist(lambda ctx: ctx.identity.native_id == "1")) is ALLOW
    assert await run(CallableAllowlist(lambda ctx: None)) is ABSTAIN


@pytest.mark.parametrize("build", [
    lambda: NativeIdAllowlist([]),
    lambda: NativeIdAllowlist("alice"),
    lambda: NativeIdAllowlist([1.5]),
    lambda: LinkedClaimAllowlist({}),
    lambda: LinkedClaimAllowlist({"username": []}),
    lambda: AnyOf([]),
    lambda: AllOf(["not an allowlist"]),
    lambda: CallableAllowlist(42),
])
def test_validated_at_construction(build: Any) -> None:
    with pytest.raises(ChannelConfigurationError):
        build()


class PluginAllowlists:
    @hookimpl
    def hostline_allowlists(self, channel: str) -> Any:
        if channel == "t":
            return [NativeIdAllowlist(["vip"]), CallableAllowlist(
                lambda ctx: False if ctx.identity.native_id == "banned" else None)]
        return None


async def test_host_authorize(tmp_path: Path) -> None:
    cfg = ('[channels.t]\nplugin = "sinkchannel:SinkChannel"\n'
           '[channels.t.allow]\nnative_ids = ["alice", "banned"]\n'
           'linked_claims = { tenant_id = ["contoso"] }\n'
           '[channels.open]\nplugin = "sinkchannel:SinkChannel"\n')
    async with run_host(make_host(tmp_path, cfg, plugins=[PluginAllowlists()])) as (host, _):
        assert isinstance(await host.authorize("t", Identity("t", "alice")), Allowed)
        assert isinstance(await host.authorize("t", Identity("t", "vip")), Allowed)
        # Any DENY wins, even over the config's ALLOW.
        assert isinstance(await host.authorize("t", Identity("t", "banned")), Denied)
        # Nobody allows and a linked claim could: the person is told to link.
        assert isinstance(await host.authorize("t", Identity("t", "bob")), LinkRequired)
        # A channel with no allowlists is open.
        assert isinstance(await host.authorize("open", Identity("open", "bob")), Allowed)
        # Linking a Teams identity with the right tenant claim allows bob.
        await host.store.link("t:bob", "user-1", Identity("t", "bob").to_json())
        await host.store.link("teams:b", "user-1",
                              Identity("teams", "b", claims={"tenant_id": "contoso"}).to_json())
        assert isinstance(await host.authorize("t", Identity("t", "bob")), Allowed)
        assert host.metrics["denied:t"] == 2


async def link_code(host: Any, identity: Identity) -> str:
    reply = await host.dispatch_command("/link", channel=identity.channel, scope="s",
                                        identity=identity)
    return str(reply.split("/link ")[1].split()[0])


async def test_link_codes_single_use_expiring_rate_limited(tmp_path: Path) -> None:
    a, b, c = Identity("a", "1"), Identity("b", "2"), Identity("c", "3")
    async with run_host(make_host(tmp_path)) as (host, _):
        code = await link_code(host, a)
        assert await host.dispatch_command(f"/link {code.lower()}", channel="b", scope="s",
                                           identity=b) == "Linked with your a account."
        assert await host.store.user_of("a:1") == await host.store.user_of("b:2") is not None
        # Reused code fails.
        assert "invalid or has expired" in await host.dispatch_command(
            f"/link {code}", channel="c", scope="s", identity=c)
        # Expired code fails.
        linker = (await host.collect("hostline_identity_linkers", host=host))[0]
        linker.ttl = 0.05
        try:
            code = await link_code(host, a)
            time.sleep(0.1)
            assert "invalid or has expired" in await host.dispatch_command(
                f"/link {code}", channel="c", scope="s", identity=c)
        finally:
            linker.ttl = 600.0
        # Brute force: after max_attempts wrong codes even the right one is refused.
        code = await link_code(host, a)
        for _ in range(linker.max_attempts - 2):
            await host.dispatch_command("/link AAAAAAAA", channel="c", scope="s", identity=c)
        assert "Too many attempts" in await host.dispatch_command(
            f"/link {code}", channel="c", scope="s", identity=c)
        assert await host.store.user_of("c:3") is None


async def test_link_policy_limits_channels(tmp_path: Path) -> None:
    cfg = '[host.links]\nallow = { a = ["b"] }\n'
    async with run_host(make_host(tmp_path, cfg)) as (host, _):
        code = await link_code(host, Identity("a", "1"))
        assert "cannot be linked" in await host.dispatch_command(
            f"/link {code}", channel="c", scope="s", identity=Identity("c", "3"))
        code = await link_code(host, Identity("a", "1"))
        assert "Linked" in await host.dispatch_command(
            f"/link {code}", channel="b", scope="s", identity=Identity("b", "2"))


async def test_private_content_never_goes_to_a_group(tmp_path: Path) -> None:
    from hostline import Destination, ResponseTarget

    cfg = ('[channels.a]\nplugin = "sinkchannel:SinkChannel"\n'
           '[channels.b]\nplugin = "sinkchannel:SinkChannel"\n')
    async with run_host(make_host(tmp_path, cfg)) as (host, _):
        for ident, group in ((Identity("a", "1"), False), (Identity("b", "2"), True)):
            await host.store.link(ident.key, "u", ident.to_json())
            await host.store.kv_put("dest", ident.key, {"destination": Destination(
                ident.channel, ident.native_id, ident.key, group).to_json(), "at": 1.0})
        origin = Destination("a", "1", "a:1", False)
        res = await host.delivery.resolve(ResponseTarget.all_linked(), Identity("a", "1"), origin)
        assert [d.channel for d in res.destinations] == ["a"]
        assert [(s.target, s.reason) for s in res.skipped] == [
            ("b:2", "not allowed: private content to a group")]
        res = await host.delivery.resolve(ResponseTarget.channel("zzz"), Identity("a", "1"), origin)
        assert [s.reason for s in res.skipped] == ["not linked"]


async def test_commands_need_authorization_unless_public(tmp_path: Path) -> None:
    cfg = ('[channels.t]\nplugin = "sinkchannel:SinkChannel"\ndenied_reply = "Private bot."\n'
           '[channels.t.allow]\nnative_ids = ["alice"]\n')
    async with run_host(make_host(tmp_path, cfg)) as (host, _):
        mallory = Identity("t", "mallory")
        assert await host.dispatch_command("/new", channel="t", scope="m",
                                           identity=mallory) == "Private bot."
        assert (await host.dispatch_command("/help", channel="t", scope="m",
                                            identity=mallory) or "").startswith("Commands:")
        assert "/link" in (await host.dispatch_command("/link", channel="t", scope="m",
                                                       identity=mallory) or "")
        assert await host.dispatch_command("/new", channel="t", scope="a",
                                           identity=Identity("t", "alice")) == (
            "Started a new conversation.")


@pytest.mark.parametrize(("seconds", "said"), [
    (30, "30 seconds"), (60, "1 minute"), (90, "1 minute 30 seconds"), (600, "10 minutes"),
    (3600, "1 hour"), (5400, "1 hour 30 minutes"), (0.2, "1 second")])
def test_link_instructions_say_the_lifetime(seconds: float, said: str) -> None:
    from hostline.linking import describe_duration

    assert describe_duration(seconds) == said


async def test_code_ttl_from_config_sets_the_lifetime_and_the_wording(tmp_path: Path) -> None:
    async with run_host(make_host(tmp_path, "[host.links]\ncode_ttl = 45\n")) as (host, _):
        reply = await host.dispatch_command("/link", channel="a", scope="s",
                                            identity=Identity("a", "1"))
        assert reply.endswith("within 45 seconds to link them.")
        linker = (await host.collect("hostline_identity_linkers", host=host))[0]
        assert linker.ttl == 45


def test_code_ttl_must_be_positive(tmp_path: Path) -> None:
    path = tmp_path / "hostline.toml"
    path.write_text("[host.links]\ncode_ttl = 0\n")
    with pytest.raises(ConfigError, match=r"\[host.links\]"):
        load_config(path)


async def test_an_allow_entry_of_another_channel_admits_the_linked_person(tmp_path: Path) -> None:
    """``native_ids = ["teams:<entra id>"]`` on a Telegram channel lets in the
    Telegram account linked to that Teams user, and asks others to link."""
    entra = "8f14e45f-ceea-4e7a-9c1b-2b1c6a7d3e10"
    cfg = f'[channels.telegram]\nplugin = "sinkchannel:SinkChannel"\n' \
          f'[channels.telegram.allow]\nnative_ids = ["teams:{entra}"]\n'
    tg, teams = Identity("telegram", "12345678"), Identity("teams", entra)
    async with run_host(make_host(tmp_path, cfg)) as (host, _):
        assert isinstance(await host.authorize("telegram", tg), LinkRequired)
        await host.store.link(tg.key, "u1", tg.to_json())
        await host.store.link(teams.key, "u1", teams.to_json())
        assert isinstance(await host.authorize("telegram", tg), Allowed)
        other = Identity("telegram", "999")
        await host.store.link(other.key, "u2", other.to_json())
        assert isinstance(await host.authorize("telegram", other), Denied)
