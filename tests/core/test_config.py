import json

import pytest

from dejavu_cn.config import Config, load_config
from dejavu_cn.errors import ConfigError


def test_defaults_are_sqlite_and_valid():
    c = Config.from_dict({})
    assert c.database_type == "sqlite"
    assert c.sqlite_path().endswith("dejavu_cn.sqlite3")


def test_shipped_config_json_loads(tmp_path):
    import os
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    c = load_config(os.path.join(root, "config.json"))
    assert c.database_type == "sqlite"


def test_relative_sqlite_path_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "c.json"
    path.write_text(json.dumps({"database": {"path": "db.sqlite3"}}))
    assert load_config(path).sqlite_path() == str(tmp_path / "sub" / "db.sqlite3")


def test_mysql_tls_defaults_to_auto_and_its_ca_file_is_relative_to_the_config_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"database_type": "mysql", "database": {"host": "h", "user": "u", "database": "d"}}))
    assert load_config(path).mysql_settings()["tls"] == "auto" and load_config(path).mysql_settings()["tls_ca"] is None
    path.write_text(json.dumps({"database_type": "mysql",
                                "database": {"host": "h", "user": "u", "database": "d", "tls_ca": "certs/ca.pem"}}))
    assert load_config(path).mysql_settings()["tls_ca"] == str(tmp_path / "certs" / "ca.pem")


def test_mysql_password_from_environment_and_never_printed(monkeypatch):
    c = Config.from_dict({"database_type": "mysql",
                          "database": {"host": "h", "user": "u", "password": "secret", "database": "d"}})
    assert c.mysql_settings()["password"] == "secret"
    assert "secret" not in json.dumps(c.redacted())
    monkeypatch.setenv("DEJAVU_CN_DB_PASSWORD", "from-env")
    assert c.mysql_settings()["password"] == "from-env"
    assert "from-env" not in json.dumps(c.redacted())


@pytest.mark.parametrize("data,message", [
    ({"database_type": "oracle"}, "database_type"),
    ({"database_type": "mysql", "database": {"host": "h"}}, "database.user"),
    ({"fingerprint": {"window_size": 1000}}, "power of two"),
    ({"fingerprint": {"no_such_thing": 1}}, "unknown key 'fingerprint.no_such_thing'"),
    ({"fingerprint": {"fan_value": "many"}}, "'fingerprint.fan_value' must be a whole number, not \"many\""),
    ({"recognition": {"threshold": 2}}, "threshold"),
    ([], "JSON object"),
])
def test_bad_configurations_are_refused_with_a_message(data, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict(data)


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(bad)


def test_long_queries_are_analysed_at_fewer_start_points():
    rec = Config.from_dict({"recognition": {"query_shifts": 4, "query_shift_seconds": 6}}).recognition
    assert [rec.shifts_for(s) for s in (0.5, 1.0, 2.0, 3.0, 5.0, 10.0)] == [4, 4, 3, 2, 1, 1]
    unlimited = Config.from_dict({"recognition": {"query_shift_seconds": 0}}).recognition
    assert unlimited.shifts_for(10.0) == unlimited.query_shifts
    with pytest.raises(ConfigError, match="query_shift_seconds"):
        Config.from_dict({"recognition": {"query_shift_seconds": -1}})


@pytest.mark.parametrize("bad", [{"early_seconds": -1}, {"early_confidence": 1.5}])
def test_early_decision_settings_are_checked(bad):
    with pytest.raises(ConfigError, match="early_"):
        Config.from_dict({"recognition": bad})


@pytest.mark.parametrize("data,message", [
    ({"databse": {"path": "x"}}, "unknown key 'databse' \u2014 did you mean 'database'?"),
    ({"database": {"pth": "x"}}, "unknown key 'database.pth' \u2014 did you mean 'database.path'?"),
    ({"recognition": {"treshold": 0.5}}, "unknown key 'recognition.treshold' \u2014 did you mean 'recognition.threshold'?"),
    ({"fingerprint": {"fan_valeu": 4}}, "did you mean 'fingerprint.fan_value'?"),
    ({"register": {"job": 2}}, "did you mean 'register.jobs'?"),
    ({"web": {"tokn": "x"}}, "unknown key 'web.tokn' \u2014 did you mean 'web.token'?"),
    ({"segment": {"padding": 100}}, "did you mean 'segment.padding_ms'?"),
    ({"speech": {"hop": 10}}, "did you mean 'speech.hop_ms'?"),
    ({"wbe": {}}, "did you mean 'web'?"),
    ({"web": {"keep_registered": "false"}}, "'web.keep_registered' must be true or false (without quotes), not \"false\""),
    ({"recognition": {"top": 2.5}}, "'recognition.top' must be a whole number"),
    ({"recognition": {"threshold": "0.5"}}, "'recognition.threshold' must be a number"),
    ({"database": {"path": 3}}, "'database.path' must be a string"),
    ({"database_type": "mysql", "database": {"host": "h", "user": "u", "database": "d", "port": "x"}},
     "'database.port' must be a whole number"),
    ({"register": {"extensions": "mp3"}}, "'register.extensions' must be a list"),
])
def test_unknown_keys_and_wrong_types_name_the_key(data, message):
    """Every section, the core's and those of the packages built on it."""
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    assert message in str(info.value)


def test_json_booleans_and_whole_numbers_are_accepted():
    c = Config.from_dict({"recognition": {"top": 3.0, "threshold": 1}, "web": {"keep_registered": False},
                          "segment": {"relative": True}})
    assert c.recognition.top == 3 and isinstance(c.recognition.top, int) and c.recognition.threshold == 1.0
    assert c.section("web").keep_registered is False and c.section("segment").relative is True


def test_settings_come_from_the_file_then_the_environment_then_set(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"recognition": {"threshold": 0.5, "top": 4}, "register": {"jobs": 1}}))
    env = {"DEJAVU_CN_RECOGNITION__THRESHOLD": "0.6", "DEJAVU_CN_REGISTER__EXTENSIONS": '["mp3"]',
           "DEJAVU_CN_DB_PASSWORD": "not a setting"}
    c = load_config(path, environ=env, settings=["recognition.threshold=0.7", "database_type=sqlite"])
    assert (c.recognition.threshold, c.recognition.top, c.register.jobs) == (0.7, 4, 1)
    assert c.register.extensions == ("mp3",)
    assert load_config(path, environ=env).recognition.threshold == 0.6
    with pytest.raises(ConfigError, match="did you mean 'recognition.threshold'"):
        load_config(path, environ={"DEJAVU_CN_RECOGNITION__TRESHOLD": "1"})
    with pytest.raises(ConfigError, match="SECTION.KEY=VALUE"):
        load_config(path, settings=["recognition.threshold"])
    # a dict goes through the same loader (the Python API and the web app)
    assert load_config({"recognition": {"top": 2}}, settings=["recognition.top=3"]).recognition.top == 3


def test_presets_apply_under_the_files_own_values():
    c = Config.from_dict({"preset": "compact"})
    assert c.fingerprint.fan_value == 4 and c.preset == "compact" and c.to_dict()["preset"] == "compact"
    assert Config.from_dict({"preset": "compact", "fingerprint": {"fan_value": 6}}).fingerprint.fan_value == 6
    assert Config.from_dict({"preset": "quick"}).recognition.query_shift_seconds == 3.0
    large = Config.from_dict({"preset": "large"})
    assert large.fingerprint.landmark == "triplet" and large.recognition.query_fan_value > large.fingerprint.fan_value
    assert large.recognition.min_aligned_frames == 4 and Config.from_dict({}).recognition.min_aligned_frames == 0
    with pytest.raises(ConfigError, match="min_aligned_frames must be >= 0"):
        Config.from_dict({"recognition": {"min_aligned_frames": -1}})
    with pytest.raises(ConfigError, match="landmark must be one of pair, triplet"):
        Config.from_dict({"fingerprint": {"landmark": "quad"}})
    with pytest.raises(ConfigError, match="unknown preset 'compakt' \u2014 did you mean 'compact'"):
        Config.from_dict({"preset": "compakt"})


def test_every_section_is_typed_and_frozen():
    import dataclasses
    c = Config.from_dict({"web": {"page_size": 10}, "microphone": {"confirmations": 2}})
    assert c.section("web").page_size == 10 and c.section("microphone").confirmations == 2
    assert c.section("speech").same_threshold == 0.3                        # a section not in the file: defaults
    for section in (c.database, c.fingerprint, c.recognition, c.register, c.section("web"), c.section("segment")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(section, dataclasses.fields(section)[0].name, None)
    with pytest.raises(ConfigError, match="'microphone.confirmations' must be a whole number"):
        Config.from_dict({"microphone": {"confirmations": "3"}})
    with pytest.raises(ConfigError, match="microphone parameters: confirmations must be >= 1"):
        Config.from_dict({"microphone": {"confirmations": 0}})
    assert c.replace(recognition={"top": 2}).recognition.top == 2 and c.recognition.top == 5
