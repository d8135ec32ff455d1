"""Value types shared by the host and every plugin.

All are attrs classes; the ones that cross process boundaries (messages,
identities, destinations) convert to and from plain JSON with ``to_json`` /
``from_json`` so the store never needs pickle.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, Union, overload
from urllib.parse import quote

import attrs

from .json_boundary import decode_stored_json

__all__ = [
    "AllowlistDecision",
    "AuthorizationContext",
    "DeliveryReceipt",
    "Destination",
    "FilePart",
    "History",
    "Identity",
    "ImagePart",
    "IsolationKeys",
    "LinkedIdentity",
    "Message",
    "Part",
    "ResponseTarget",
    "RunRequest",
    "RunResult",
    "RunUpdate",
    "Session",
    "TextPart",
    "Usage",
]


def _strs(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _messages(value: Iterable[Message]) -> tuple[Message, ...]:
    return tuple(value)


def _history(value: Iterable[Message]) -> Sequence[Message]:
    return value if isinstance(value, History) else tuple(value)


def _identities(value: Iterable[Identity]) -> tuple[Identity, ...]:
    return tuple(value)


def _freeze(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


def _plain(value: Any) -> Any:
    """A copy of nested dicts and lists (what ``attrs.asdict`` makes of a
    field), without its generic walk: identities are encoded on every turn."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@attrs.frozen
class TextPart:
    """A piece of text in a message."""

    text: str
    type: Literal["text"] = "text"


@attrs.frozen
class ImagePart:
    """An image: by ``url`` (http or data URL) or by a channel-native ``file_id``."""

    url: str | None = None
    file_id: str | None = None
    mime_type: str | None = None
    name: str | None = None
    type: Literal["image"] = "image"


@attrs.frozen
class FilePart:
    """A file: by ``url`` or by a channel-native ``file_id``."""

    url: str | None = None
    file_id: str | None = None
    mime_type: str | None = None
    name: str | None = None
    size: int | None = None
    type: Literal["file"] = "file"


Part = Union[TextPart, ImagePart, FilePart]  # noqa: UP007 - a runtime alias on 3.10
_PART_TYPES: dict[str, type[Any]] = {"text": TextPart, "image": ImagePart, "file": FilePart}


def _part_json(part: Part) -> dict[str, Any]:
    if type(part) is TextPart:  # most parts: skip attrs.asdict's generic walk
        return {"text": part.text, "type": "text"}
    return {k: v for k, v in attrs.asdict(part).items() if v is not None}


def _parts(value: str | Part | Iterable[Part | str]) -> tuple[Part, ...]:
    if isinstance(value, str):
        return (TextPart(value),)
    if isinstance(value, (TextPart, ImagePart, FilePart)):
        return (value,)
    return tuple(TextPart(p) if isinstance(p, str) else p for p in value)


@attrs.frozen
class Message:
    """One chat message: a role and a tuple of parts.

    ``content`` accepts a plain string for convenience and is always stored as
    a tuple of parts.
    """

    role: str
    content: tuple[Part, ...] = attrs.field(converter=_parts, factory=tuple)

    @property
    def text(self) -> str:
        """The message's text parts joined together."""
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    @classmethod
    def user(cls, content: str | Part | Iterable[Part]) -> Message:
        """A message with role ``user``."""
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str | Part | Iterable[Part]) -> Message:
        """A message with role ``assistant``."""
        return cls("assistant", content)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (parts without ``None`` fields)."""
        return {
            "role": self.role,
            "content": [_part_json(p) for p in self.content],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        """Inverse of :meth:`to_json`; raises ``ValueError`` on a bad shape."""
        if not isinstance(data, Mapping) or not isinstance(data.get("role"), str):
            raise ValueError("message must be an object with a string 'role'")
        parts: list[Part] = []
        for raw in data.get("content") or []:
            if not isinstance(raw, Mapping) or raw.get("type") not in _PART_TYPES:
                raise ValueError(f"unknown message part: {raw!r:.80}")
            fields = {k: v for k, v in raw.items() if k != "type"}
            parts.append(_PART_TYPES[raw["type"]](**fields))
        return cls(data["role"], tuple(parts))


@attrs.frozen
class Identity:
    """A person as one channel instance knows them.

    ``channel`` is the channel *instance* name, ``native_id`` the id the
    channel uses (Telegram user id, Teams AAD object id, API key name).
    ``claims`` carries extra facts an allowlist may test (username, tenant).
    """

    channel: str
    native_id: str
    display_name: str | None = None
    claims: dict[str, Any] = attrs.field(factory=dict, converter=_freeze, eq=False, hash=False)

    @property
    def key(self) -> str:
        """``"<channel>:<native_id>"``, unique across channels."""
        return f"{self.channel}:{self.native_id}"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"channel": self.channel, "native_id": self.native_id,
                "display_name": self.display_name, "claims": _plain(self.claims)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Identity:
        """Inverse of :meth:`to_json`."""
        return cls(
            str(data["channel"]),
            str(data["native_id"]),
            data.get("display_name"),
            data.get("claims") or {},
        )


@attrs.frozen
class IsolationKeys:
    """The tenant scope of a request (``x-agent-*-isolation-key`` headers)."""

    user: str | None = None
    chat: str | None = None

    @property
    def scope(self) -> str:
        """An injective string form used to prefix every stored key."""
        if self.user is None and self.chat is None:
            return "-/-"
        u = "-" if self.user is None else "u" + quote(self.user, safe="")
        c = "-" if self.chat is None else "c" + quote(self.chat, safe="")
        return f"{u}/{c}"


@attrs.define
class Session:
    """A conversation's persisted state.

    ``state`` is a JSON-serialisable dict the target may change; the host
    saves it after every run.
    """

    key: str
    state: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Usage:
    """Token counts, when the target reports them."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


_TargetKind = Literal["originating", "active", "channels", "identities", "all_linked", "none"]


@attrs.frozen
class ResponseTarget:
    """Where a run's result goes.

    Build one with the class methods: ``ResponseTarget.originating()``,
    ``.active()``, ``.channel(name)``, ``.channels(names)``,
    ``.identities(ids)``, ``.all_linked()``, ``.none()``. ``echo_input``
    mirrors the user's input to destinations other than the originating one.
    """

    kind: _TargetKind = "originating"
    names: tuple[str, ...] = attrs.field(default=(), converter=_strs)
    echo_input: bool = False

    @classmethod
    def originating(cls, *, echo_input: bool = False) -> ResponseTarget:
        """Reply where the message came from (the default)."""
        return cls("originating", echo_input=echo_input)

    @classmethod
    def active(cls, *, echo_input: bool = False) -> ResponseTarget:
        """The identity's most recently active channel."""
        return cls("active", echo_input=echo_input)

    @classmethod
    def channel(cls, name: str, *, echo_input: bool = False) -> ResponseTarget:
        """One named channel instance."""
        return cls("channels", (name,), echo_input=echo_input)

    @classmethod
    def channels(cls, names: Iterable[str], *, echo_input: bool = False) -> ResponseTarget:
        """Several named channel instances."""
        return cls("channels", tuple(names), echo_input=echo_input)

    @classmethod
    def identities(cls, ids: Iterable[str], *, echo_input: bool = False) -> ResponseTarget:
        """Specific identities, by :attr:`Identity.key`."""
        return cls("identities", tuple(ids), echo_input=echo_input)

    @classmethod
    def all_linked(cls, *, echo_input: bool = False) -> ResponseTarget:
        """Every channel where the linked person can be reached."""
        return cls("all_linked", echo_input=echo_input)

    @classmethod
    def none(cls) -> ResponseTarget:
        """Deliver nowhere (the run still happens and is stored)."""
        return cls("none")

    @classmethod
    def parse(cls, text: str) -> ResponseTarget:
        """Parse config syntax: ``originating``, ``active``, ``all_linked``,
        ``none``, ``channel:NAME``, ``channels:A,B``."""
        kind, _, rest = text.partition(":")
        if kind in ("originating", "active", "all_linked", "none") and not rest:
            return cls(kind)  # type: ignore[arg-type]
        if kind in ("channel", "channels") and rest:
            return cls("channels", tuple(n.strip() for n in rest.split(",") if n.strip()))
        raise ValueError(
            f"unknown response target {text!r}; expected originating, active, all_linked, "
            "none, channel:NAME or channels:A,B"
        )


@attrs.frozen
class Destination:
    """A place a message can be delivered: a channel instance and a native
    address (chat id, conversation id...). ``reference`` holds whatever else
    the channel needs to send there (Teams conversation reference)."""

    channel: str
    address: str
    identity: str | None = None
    is_group: bool = False
    reference: dict[str, Any] = attrs.field(factory=dict, converter=_freeze, eq=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {"channel": self.channel, "address": self.address, "identity": self.identity,
                "is_group": self.is_group, "reference": _plain(self.reference)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Destination:
        """Inverse of :meth:`to_json`."""
        return cls(
            str(data["channel"]),
            str(data["address"]),
            data.get("identity"),
            bool(data.get("is_group", False)),
            data.get("reference") or {},
        )


@attrs.frozen
class DeliveryReceipt:
    """What a channel returns after sending: native message ids."""

    destination: Destination
    message_ids: tuple[str, ...] = attrs.field(default=(), converter=_strs)
    sent_at: float = attrs.field(factory=time.time)


class History(Sequence["Message"]):
    """A session's earlier messages, decoded from their stored JSON on first use.

    A turn whose target never looks at ``request.history`` (an echo bot, an
    agent that keeps its own thread) pays nothing for it. Rows that do not
    decode are skipped and handed to ``on_error`` as ``(row id, raw, error)``.
    """

    __slots__ = ("_messages", "_on_error", "_rows")

    def __init__(self, rows: Sequence[tuple[Any, str]] = (), *,
                 on_error: Callable[[list[tuple[Any, str, str]]], None] | None = None) -> None:
        self._rows: Sequence[tuple[Any, str]] | None = rows
        self._messages: tuple[Message, ...] = ()
        self._on_error = on_error

    def _decoded(self) -> tuple[Message, ...]:
        rows = self._rows
        if rows is not None:
            out: list[Message] = []
            bad: list[tuple[Any, str, str]] = []
            for row_id, raw in rows:
                try:
                    out.append(Message.from_json(decode_stored_json(raw)))
                except (ValueError, TypeError, KeyError) as exc:
                    bad.append((row_id, raw, str(exc)))
            self._messages, self._rows = tuple(out), None
            if bad and self._on_error is not None:
                self._on_error(bad)
        return self._messages

    @overload
    def __getitem__(self, index: int) -> Message: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Message]: ...

    def __getitem__(self, index: int | slice) -> Message | Sequence[Message]:
        return self._decoded()[index]

    def __len__(self) -> int:
        return len(self._decoded())

    def __iter__(self) -> Iterator[Message]:
        return iter(self._decoded())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (History, tuple, list)):
            return self._decoded() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if self._rows is not None:
            return f"History(<{len(self._rows)} undecoded>)"
        return f"History({list(self._messages)!r})"


@attrs.define
class RunRequest:
    """Everything a target gets for one turn.

    ``input`` are the new messages, ``history`` the earlier turns of this
    session (bounded; a :class:`History`, decoded when first used),
    ``session.state`` a dict the host persists.
    ``options`` are channel-specific extras (instructions, model...).
    """

    input: tuple[Message, ...] = attrs.field(converter=_messages)
    history: Sequence[Message] = attrs.field(default=(), converter=_history)
    session: Session = attrs.field(factory=lambda: Session(""))
    identity: Identity | None = None
    channel: str = ""
    options: dict[str, Any] = attrs.field(factory=dict)
    isolation: IsolationKeys = attrs.field(factory=IsolationKeys)
    response_target: ResponseTarget | None = None
    destination: Destination | None = None

    @property
    def text(self) -> str:
        """The text of the new input, messages joined by newlines."""
        return "\n".join(m.text for m in self.input if m.text)


@attrs.frozen
class RunUpdate:
    """A streaming update: a text ``delta``, a whole ``part``, and/or the
    run's ``usage`` (yield it last; the latest one wins)."""

    delta: str = ""
    part: Part | None = None
    usage: Usage | None = None


@attrs.frozen
class RunResult:
    """The outcome of a run."""

    messages: tuple[Message, ...] = attrs.field(factory=tuple, converter=_messages)
    usage: Usage = attrs.field(factory=Usage)
    status: Literal["completed", "failed", "incomplete", "cancelled"] = "completed"
    response_target: ResponseTarget | None = None
    error: str | None = None

    @classmethod
    def from_text(cls, text: str, **kwargs: Any) -> RunResult:
        """A completed result with one assistant message of ``text``."""
        return cls((Message.assistant(text),), **kwargs)

    @property
    def text(self) -> str:
        """All assistant text joined by blank lines."""
        return "\n\n".join(m.text for m in self.messages if m.text)


class AllowlistDecision(enum.Enum):
    """An allowlist's answer for one person."""

    ALLOW = "allow"
    DENY = "deny"
    ABSTAIN = "abstain"


@attrs.frozen
class LinkedIdentity:
    """An identity linked to a hostline user id."""

    user_id: str
    identity: Identity
    linked_at: float = attrs.field(factory=time.time)


@attrs.frozen
class AuthorizationContext:
    """What an allowlist sees: the channel instance, the person, the user
    they are linked to (if any) and all identities of that user."""

    channel: str
    identity: Identity
    user_id: str | None = None
    linked: tuple[Identity, ...] = attrs.field(default=(), converter=_identities)
    request: RunRequest | None = None
