"""What "a row mentions a person" means, for every store backend.

``hostline sessions erase`` removes a person's data from the store without
knowing how each channel plugin names its records: a row goes when one of
its text columns *mentions* one of the person's identity keys or native ids.
:class:`Erasure` owns that test so every backend erases exactly the same
rows: backends may narrow candidates with a substring search (SQL ``LIKE
'%term%'``, ``strpos``) and must confirm each candidate with
:meth:`Erasure.mentions`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import attrs

__all__ = ["Erasure"]


def _variants(term: str) -> list[str]:
    # Stored JSON escapes non-ASCII (and quotes, backslashes): look for both forms.
    escaped = json.dumps(term)[1:-1]
    return [term] if escaped == term else [term, escaped]


@attrs.frozen
class Erasure:
    """A person to erase: their identity keys (``"channel:native_id"``) and
    the link user ids they were linked under.

    A term is every identity key and every native id. A text *mentions* the
    person when a term occurs in it as a whole token: not preceded or
    followed by a letter, a digit, ``_`` or ``-`` (so the user ``42`` is not
    the group ``-42`` nor the id ``1428``).
    """

    identities: tuple[str, ...]
    user_ids: tuple[str, ...] = ()
    _pattern: re.Pattern[str] | None = attrs.field(default=None, init=False, eq=False,
                                                   repr=False)

    @classmethod
    def of(cls, identities: Iterable[str], user_ids: Iterable[str] = ()) -> Erasure:
        """An erasure of ``identities`` (keys), deduplicated and sorted."""
        keys = sorted({i for i in identities if ":" in i and i.partition(":")[2]})
        if not keys:
            raise ValueError("an erasure needs at least one identity key CHANNEL:ID")
        return cls(tuple(keys), tuple(sorted(set(user_ids))))

    @property
    def native_ids(self) -> tuple[str, ...]:
        """The native ids of :attr:`identities` (the part after the first ``:``)."""
        return tuple(sorted({k.partition(":")[2] for k in self.identities}))

    @property
    def terms(self) -> tuple[str, ...]:
        """Every string a mention is looked for, longest first (use them for a
        substring prefilter; JSON-escaped forms included)."""
        out = {v for t in (*self.identities, *self.native_ids) for v in _variants(t)}
        return tuple(sorted(out, key=lambda t: (-len(t), t)))

    def _regex(self) -> re.Pattern[str]:
        if self._pattern is None:
            alternatives = "|".join(re.escape(t) for t in self.terms)
            object.__setattr__(self, "_pattern",
                               re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])"))
        assert self._pattern is not None
        return self._pattern

    def mentions(self, *texts: str | None) -> bool:
        """Whether any of ``texts`` mentions the person (``None`` never does)."""
        regex = self._regex()
        return any(t is not None and regex.search(t) is not None for t in texts)
