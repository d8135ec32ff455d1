"""hostline target for any OpenAI-compatible model server.

Enable it with ``target = "openai"`` in ``[host]`` and configure it in
``[host.target_options]`` (``model``, ``base_url``, ``api_key_env``, ``api``...).
"""

from ._target import OpenAITarget, OpenAITargetError, openai_target

__all__ = ["OpenAITarget", "OpenAITargetError", "openai_target"]
