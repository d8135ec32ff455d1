"""hostline-slack: a Slack app channel for hostline.

Enable it with a ``[channels.slack]`` table (see the README). For tests,
:class:`hostline_slack.testing.FakeSlackAPI` is a local Slack Web API and
:func:`hostline_slack.testing.signed_headers` signs requests as Slack does.
"""

from __future__ import annotations

from .api import SlackAPI, SlackError, SlackPermanentError, SlackRetryableError
from .channel import SlackChannel
from .config import SlackConfig
from .delivery import Where
from .errors import FileTooLarge
from .format import escape, render, to_mrkdwn
from .installations import Installation
from .ratelimit import TIERS, RateLimiter
from .signing import SignatureError, make_state, read_state, sign, verify

__version__ = "0.1.0"

__all__ = [
    "TIERS",
    "FileTooLarge",
    "Installation",
    "RateLimiter",
    "SignatureError",
    "SlackAPI",
    "SlackChannel",
    "SlackConfig",
    "SlackError",
    "SlackPermanentError",
    "SlackRetryableError",
    "Where",
    "escape",
    "make_state",
    "read_state",
    "render",
    "sign",
    "to_mrkdwn",
    "verify",
]
