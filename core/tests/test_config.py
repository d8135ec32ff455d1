"""Every bad-config path names the file, the table and the key."""

from __future__ import annotations

import datetime
import enum
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostline import ConfigError, Host, Message, Secret, load_config, secret
from hostline.cli import main
from hostline.config import parse_config, structure


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "hostline.toml"
    p.write_text(text, encoding="utf-8")
    return p


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        Host(load_config(path, env=env or {}))
    return str(info.value)


def test_missing_file_is_an_error_when_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(tmp_path / "nope.toml")


def test_no_file_gives_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.path is None and config.host.target == "echo"


def test_bad_toml(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[host\ntarget = 1")
    assert "hostline.toml" in msg and "invalid TOML" in msg


def test_unknown_top_level_table(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[hosts]\ntarget = 'echo'\n")
    assert "[hosts]" in msg and "did you mean '[host]'" in msg


def test_unknown_host_key_with_did_you_mean(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[host]\ntargt = 'echo'\n")
    assert "hostline.toml: [host] key 'targt'" in msg and "did you mean 'target'" in msg


def test_wrong_type(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[host]\nhistory_limit = 'many'\n")
    assert "[host] key 'history_limit': expected an integer, got a string" in msg


def test_wrong_type_never_echoes_the_value(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[host]\nbind = 12345678\n")
    assert "12345678" not in msg and "key 'bind'" in msg


def test_missing_env_var(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[host]\npublic_url = '${PUBLIC_URL_NOT_SET}'\n")
    assert "[host] key 'public_url'" in msg and "PUBLIC_URL_NOT_SET is not set" in msg


def test_env_default_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "[host]\nbind = '${BIND:-127.0.0.1:9}'\npublic_url = '${URL}'\n")
    config = load_config(path, env={"URL": "https://x.example"})
    assert config.host.bind == "127.0.0.1:9" and config.host.public_url == "https://x.example"


def test_unknown_plugin(tmp_path: Path) -> None:
    from hostline import PluginError

    path = write(tmp_path, "[channels.nosuch]\n")
    with pytest.raises(PluginError) as info:
        Host(load_config(path, env={}))
    assert "channel plugin 'nosuch'" in str(info.value)
    assert "hostline.channels" in str(info.value)


def test_unknown_enabled_plugin(tmp_path: Path) -> None:
    from hostline import PluginError

    path = write(tmp_path, "[host]\nplugins = ['ghost']\n")
    with pytest.raises(PluginError, match="plugin 'ghost': not installed"):
        Host(load_config(path, env={}))


def test_unknown_target(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[host]\ntarget = 'nosuch'\n")
    assert "[host] key 'target'" in msg and "unknown target 'nosuch'" in msg


def test_unimportable_target(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[host]\ntarget = 'no_such_module_x:agent'\n")
    assert "[host] key 'target'" in msg and "cannot import" in msg


def test_bad_instance_name(tmp_path: Path) -> None:
    msg = error_of(tmp_path, '[channels."Bad Name"]\nplugin = "responses"\n')
    assert "[channels.Bad Name]" in msg


def test_bad_response_target(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[channels.responses]\nresponse_target = 'everywhere'\n")
    assert "[channels.responses] key 'response_target'" in msg


def test_empty_allowlist(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[channels.responses.allow]\nnative_ids = []\n")
    assert "[channels.responses.allow] key 'native_ids'" in msg


def test_allowlist_wrong_type(tmp_path: Path) -> None:
    msg = error_of(tmp_path, "[channels.responses.allow]\nnative_ids = 'alice'\n")
    assert "[channels.responses.allow] key 'native_ids': expected a list" in msg


def test_check_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, f"[host]\nstate_dir = '{(tmp_path / 's').as_posix()}'\n")
    assert main(["check", "--config", str(good)]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[host]\ntarget = 3\n")
    assert main(["check", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.toml: [host] key 'target'" in err


@attrs.frozen
class _Schema:
    token: Secret = secret()  # noqa: RUF009
    mode: str = "webhook"
    limit: int = 3


def test_secret_never_in_repr_or_errors() -> None:
    cfg = structure(_Schema, {"token": "s3cr3t-value"}, "f: [channels.x]")
    assert "s3cr3t-value" not in repr(cfg) and "s3cr3t-value" not in str(cfg.token)
    assert cfg.token.reveal() == "s3cr3t-value"
    with pytest.raises(ConfigError) as info:
        structure(_Schema, {"token": 12345}, "f: [channels.x]")
    assert "12345" not in str(info.value) and "key 'token'" in str(info.value)
    with pytest.raises(ConfigError, match="key 'token': required key is missing"):
        structure(_Schema, {}, "f: [channels.x]")


toml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["host", "channels", "plugins", "x"]),
                       st.dictionaries(st.text(max_size=12), toml_values, max_size=4),
                       max_size=3))
def test_parse_config_only_raises_config_errors(doc: dict[str, object]) -> None:
    try:
        parse_config(doc, Path("h.toml"), env={})
    except ConfigError as exc:
        assert str(exc).startswith("h.toml")


def test_config_repr_never_shows_raw_secrets(tmp_path: Path) -> None:
    path = write(tmp_path, "[host.target_options]\napi_key = 'tgt-secret'\n"
                           "[channels.bot]\nplugin = 'x'\ntoken = '${TOKEN}'\n"
                           "[plugins.p]\npassword = 'plugin-secret'\n")
    config = load_config(path, env={"TOKEN": "123:channel-secret"})
    text = repr(config)
    assert "channel-secret" not in text and "tgt-secret" not in text
    assert "plugin-secret" not in text and "'token': ..." in text


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Typed:
    folder: Path = Path(".")
    colour: Colour = Colour.RED
    since: datetime.date = datetime.date(2020, 1, 1)
    at: datetime.datetime | None = None


def test_structure_converts_paths_enums_and_dates() -> None:
    got = structure(Typed, {"folder": "data/in", "colour": "blue", "since": "2026-12-01",
                            "at": datetime.datetime(2026, 12, 1, 9, 30)}, "f: [t]")
    assert got == Typed(Path("data/in"), Colour.BLUE, datetime.date(2026, 12, 1),
                        datetime.datetime(2026, 12, 1, 9, 30))
    with pytest.raises(ConfigError, match=r"f: \[t\] key 'colour': expected"):
        structure(Typed, {"colour": "green"}, "f: [t]")
    with pytest.raises(ConfigError, match=r"key 'since': expected"):
        structure(Typed, {"since": "yesterday"}, "f: [t]")


def test_structure_refuses_an_annotation_it_cannot_convert() -> None:
    @attrs.frozen
    class Odd:
        pattern: complex = 0j

    with pytest.raises(ConfigError, match=r"f: \[t\] key 'pattern': the schema's type complex"):
        structure(Odd, {"pattern": "1+2j"}, "f: [t]")


@attrs.frozen
class EchoOptions:
    prefix: str
    times: int = 1


def options_target(prefix: str, times: int) -> Any:
    async def target(request: Any) -> str:
        return prefix * times + request.text

    return target


options_target.__hostline_factory__ = True  # type: ignore[attr-defined]
options_target.Options = EchoOptions  # type: ignore[attr-defined]


class OptionsPlugin:
    """A plugin whose ``[plugins.x]`` table has a schema."""

    @attrs.frozen
    class Options:
        level: int

    def __init__(self, level: int) -> None:
        self.level = level


def test_target_options_are_checked_against_the_factory_schema(tmp_path: Path) -> None:
    def host_with(options: str) -> Host:
        path = tmp_path / "hostline.toml"
        path.write_text(f'[host]\ntarget = "{__name__}:options_target"\n'
                        f'[host.target_options]\n{options}\n')
        return Host(load_config(path))

    assert host_with('prefix = ">"\ntimes = 2').target.name.endswith("options_target")
    with pytest.raises(ConfigError, match=r"\[host.target_options\] key 'time': unknown key "
                                          r"\(did you mean 'times'\?\)"):
        host_with('prefix = ">"\ntime = 2')
    with pytest.raises(ConfigError,
                       match=r"\[host.target_options\] key 'times': expected an integer"):
        host_with('prefix = ">"\ntimes = "two"')
    with pytest.raises(ConfigError, match=r"\[host.target_options\] key 'prefix': required"):
        host_with("times = 2")


def test_plugin_tables_are_checked_against_the_plugin_schema(tmp_path: Path) -> None:
    path = tmp_path / "hostline.toml"
    path.write_text(f'[host]\nplugins = ["{__name__}:OptionsPlugin"]\n'
                    f'[plugins."{__name__}:OptionsPlugin"]\nlevel = "high"\n')
    with pytest.raises(ConfigError, match=r"\[plugins\..*OptionsPlugin\] key 'level': "
                                          r"expected an integer"):
        Host(load_config(path))


def stateful_target(*, label: str, state_dir: Path, store: Any) -> Any:
    """A target factory asking for where the host keeps state."""
    async def target(request: Any) -> str:
        await store.kv_put("stateful", label, request.text)
        return f"{label} in {state_dir.name}"

    return target


stateful_target.__hostline_factory__ = True  # type: ignore[attr-defined]


async def test_a_target_factory_gets_the_state_dir_and_store_it_declares(tmp_path: Path) -> None:
    from hostline.testing import make_host

    host = make_host(tmp_path, f'[host]\ntarget = "{__name__}:stateful_target"\n'
                               '[host.target_options]\nlabel = "x"\n')
    async with host.lifespan():
        turn = await host.begin_turn(channel="test", scope="s", input=[Message.user("hi")])
        assert (await turn.run()).text == f"x in {host.config.state_dir.name}"
        assert await host.store.kv_get("stateful", "x") == "hi"
