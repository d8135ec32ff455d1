"""The Markdown corpus: real-looking model answers rendered per channel, against goldens.

Each ``tests/markdown_corpus/NNN-name.md`` has golden outputs in
``tests/markdown_corpus/golden/``: the plain text, the Telegram HTML messages
and the Teams Markdown messages (messages separated by a ``<!-- next message -->``
line). Regenerate them after an intended change with
``HOSTLINE_UPDATE_GOLDENS=1 uv run pytest tests/test_markdown_corpus.py`` and
review the diff. Every Telegram message is also sent to the fake Bot API, as
HTML and as entities, which applies the Bot API's parsing and entity rules.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from hostline import markdown
from hostline_teams.activities import split_text as teams_split
from hostline_telegram import render
from hostline_telegram.entities import check_entities, to_bot_api
from hostline_telegram.format import markdown_to_entities, split_ranges
from hostline_telegram.testing import FakeBotAPI

CORPUS = Path(__file__).parent / "markdown_corpus"
GOLDEN = CORPUS / "golden"
SAMPLES = sorted(CORPUS.glob("*.md"))
SEPARATOR = "\n<!-- next message -->\n"
UPDATE = os.environ.get("HOSTLINE_UPDATE_GOLDENS") == "1"


def test_the_corpus_is_large_enough():
    assert len(SAMPLES) >= 60


def outputs(source: str) -> dict[str, str]:
    doc = markdown.parse(source)
    return {
        "plain.txt": markdown.to_plain(doc),
        "telegram.html": SEPARATOR.join(c.html or "" for c in render(source)),
        "teams.md": SEPARATOR.join(teams_split(source)),
    }


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_golden_outputs(sample: Path) -> None:
    for suffix, got in outputs(sample.read_text(encoding="utf-8")).items():
        golden = GOLDEN / f"{sample.stem}.{suffix}"
        if UPDATE:
            golden.parent.mkdir(exist_ok=True)
            golden.write_text(got, encoding="utf-8")
        assert golden.exists(), f"no golden {golden.name}: run with HOSTLINE_UPDATE_GOLDENS=1"
        assert got == golden.read_text(encoding="utf-8"), golden.name


@pytest.fixture(scope="module")
def bot_api():
    with FakeBotAPI() as fake:
        yield fake


@pytest.mark.parametrize("limit", [4096, 300])
def test_telegram_messages_pass_the_bot_api_rules(bot_api: FakeBotAPI, limit: int) -> None:
    url = f"{bot_api.url}/bot{bot_api.token}/sendMessage"
    with httpx.Client(timeout=10) as client:
        for k, sample in enumerate(SAMPLES):
            source = sample.read_text(encoding="utf-8")
            whole = markdown_to_entities(source)
            check_entities(whole)
            chunks = [c for c in render(source, limit=limit) if c.plain.strip()]
            assert "".join(c.plain for c in render(source, limit=limit)) == whole.text
            for chunk in chunks:
                r = client.post(url, json={"chat_id": 1000 + k, "text": chunk.html,
                                           "parse_mode": "HTML"})
                assert r.status_code == 200, (sample.name, r.text)
            for a, b in split_ranges(whole.text, whole.entities, limit):
                part = whole.clip(a, b)
                if not part.text.strip():
                    continue
                r = client.post(url, json={"chat_id": 2000 + k, "text": part.text,
                                           "entities": to_bot_api(part)})
                assert r.status_code == 200, (sample.name, r.text)
            assert [m.text for m in bot_api.messages(1000 + k)] == \
                [m.text for m in bot_api.messages(2000 + k)]


@pytest.mark.parametrize("limit", [20_000, 500])
def test_teams_messages_keep_everything(limit: int) -> None:
    for sample in SAMPLES:
        source = sample.read_text(encoding="utf-8")
        parts = teams_split(source, limit)
        assert all(len(p) <= limit for p in parts)
        shown = "".join("".join(markdown.to_plain(markdown.parse(p)).split()) for p in parts)
        assert shown == "".join(markdown.to_plain(markdown.parse(source)).split()), sample.name
        for part in parts:
            assert fences_closed(part), (sample.name, part)


def fences_closed(text: str) -> bool:
    """Whether every code fence opened in ``text`` is closed in it."""
    fence = ""
    for line in text.split("\n"):
        bare = line.lstrip("> ").strip()
        if not fence:
            run = bare[:len(bare) - len(bare.lstrip("`~"))]
            if len(run) >= 3 and len(set(run)) == 1:
                fence = run
        elif bare and set(bare) == {fence[0]} and len(bare) >= len(fence):
            fence = ""
    return not fence
