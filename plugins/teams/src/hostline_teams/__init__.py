"""hostline-teams: a Microsoft Teams bot channel for hostline.

It speaks the Bot Framework protocol directly (httpx + PyJWT): inbound
activities are authenticated as the Bot Framework documents, outbound calls
use client-credentials tokens. :mod:`hostline_teams.testing` ships local
fakes of the Bot Framework services for your own tests.
"""

from __future__ import annotations

from .channel import TargetFailed, TeamsChannel
from .config import TeamsConfig

__version__ = "0.1.0"

__all__ = ["TargetFailed", "TeamsChannel", "TeamsConfig", "__version__"]
