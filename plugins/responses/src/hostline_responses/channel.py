"""Placeholder, replaced below."""
from hostline import Channel


class ResponsesChannel(Channel):
    needs_secrets = False
