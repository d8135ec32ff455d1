"""Developer sessions: ``nox -s tests lint typecheck isolated bench``.

``uv run pytest`` (the README's test command) is what ``tests`` runs; the
other sessions are for development and release checks.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]

ROOT = Path(__file__).parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """Every package's tests in the workspace environment."""
    session.run("uv", "run", "pytest", *session.posargs)


@nox.session(venv_backend="none")
def e2e(session: nox.Session) -> None:
    """Cross-package tests: real server processes, real clients."""
    session.run("uv", "run", "pytest", "tests", *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff over every package."""
    session.run("uv", "run", "ruff", "check", ".")


@nox.session(venv_backend="none")
def typecheck(session: nox.Session) -> None:
    """mypy: strict on the core, checked on every plugin."""
    session.run("uv", "run", "mypy", "core/src")
    for name in PLUGINS:
        session.run("uv", "run", "mypy", f"plugins/{name}/src")


@nox.session
@nox.parametrize("plugin", PLUGINS)
def isolated(session: nox.Session, plugin: str) -> None:
    """Each plugin installed alone beside the core in a fresh venv runs its own tests."""
    session.install(str(ROOT / "core"), f"{ROOT / 'plugins' / plugin}[test]")
    session.run("python", "-m", "pytest", str(ROOT / "plugins" / plugin / "tests"),
                "-p", "no:cacheprovider", "--import-mode=importlib", "-o", "asyncio_mode=auto",
                "--rootdir", str(ROOT / "plugins" / plugin), *session.posargs)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Load on loopback; prints ratios against a bare Starlette app (see BENCHMARKS.md)."""
    session.run("uv", "run", "python", "bench/run.py", *session.posargs)
