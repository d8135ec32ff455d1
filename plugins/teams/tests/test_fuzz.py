"""Hostile activities (validly signed, arbitrary shape) never cause a 500,
and whatever gets queued never crashes a worker."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8)
activity_types = st.sampled_from(["message", "invoke", "conversationUpdate", "typing",
                                  "messageReaction", "event", "installationUpdate"])
# Fields a handler reads but the webhook does not require.
optional_fields = st.sampled_from(["text", "entities", "attachments", "value", "name",
                                   "membersAdded", "channelData", "locale", "from",
                                   "recipient", "textFormat"])
mentioned = st.fixed_dictionaries({"id": st.sampled_from(["28:x", "29:y"]) | st.text(max_size=5)})
mention = st.fixed_dictionaries({"type": st.just("mention"), "text": st.text(max_size=15),
                                 "mentioned": mentioned})
attachment = st.fixed_dictionaries({}, optional={
    "contentType": st.sampled_from(["image/png", "text/html", "application/pdf", "image",
                                    "application/vnd.microsoft.teams.file.download.info"])
    | json_values, "contentUrl": st.text(max_size=15) | json_values,
    "content": json_values, "name": json_values})
optional_values = json_values | st.lists(mention | attachment, max_size=3) | st.text(max_size=40)
conversations = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=30)},
    optional={"conversationType": st.sampled_from(["personal", "groupChat", "channel"])
              | json_values, "isGroup": json_values, "tenantId": json_values})
# Rarely, break a field the webhook needs.
required_breakage = st.none() | st.tuples(
    st.sampled_from(["id", "serviceUrl", "channelId", "conversation", "type"]), json_values)


async def test_fuzzed_activities_never_500(bf, teams_toml, hostline_app):
    toml = teams_toml(typing=False, welcome_text="hi", group_mode="always")
    async with hostline_app(toml) as (host, client):
        loop = asyncio.get_running_loop()
        statuses: list[int] = []

        @settings(max_examples=150, deadline=None,
                  suppress_health_check=[HealthCheck.function_scoped_fixture,
                                         HealthCheck.too_slow])
        @given(kind=activity_types, conversation=conversations,
               overrides=st.dictionaries(optional_fields, optional_values, max_size=4),
               broken=required_breakage)
        def check(kind, conversation, overrides, broken):
            activity = {**bf.message("fuzz"), "type": kind, "conversation": conversation,
                        **overrides}
            if broken is not None:
                activity[broken[0]] = broken[1]
            future = asyncio.run_coroutine_threadsafe(bf.post(client, activity), loop)
            response = future.result(10)
            statuses.append(response.status_code)
            assert response.status_code in (200, 202, 400, 401, 501), response.text
            if response.status_code in (400, 401):
                assert "error" in response.json()

        # Hypothesis is synchronous: drive it from a thread while the loop serves.
        await asyncio.to_thread(check)
        assert statuses.count(202) > len(statuses) // 3  # most reached the workers
        # The workers survived whatever got queued: a normal message still works.
        await bf.post(client, bf.message("still alive", conversation_id="a:after-fuzz"))
        await bf.connector.wait_for(1, text="still alive", timeout=20)
        for _ in range(2000):
            if await host.store.count_pending() == 0:
                break
            await asyncio.sleep(0.01)
        # Dead letters are activities acked without processing; no worker crashed.
        dead = [t for t in await host.store.list_tasks(["dead"], limit=1000)
                if "dead_letter" not in t.payload]
        assert dead == [], [t.last_error for t in dead]
