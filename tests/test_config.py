import pytest

from zoo.engine.config import load_config, parse_overrides
from zoo.errors import ConfigError


def write(path, text):
    path.write_text(text)
    return path


def test_defaults_and_overrides(tmp_path):
    cfg = load_config(write(tmp_path / "c.yaml", "model: {name: lenet5, activation: relu}\n"),
                      ["optim.lr=0.05", "train.epochs=3", "run.dir=/tmp/x", "model.channels=[8,16]"])
    assert cfg.optim.lr == 0.05 and isinstance(cfg.optim.lr, float)
    assert cfg.train.epochs == 3
    assert cfg.run.dir == "/tmp/x"
    assert cfg.model.name == "lenet5"
    assert cfg.model.kwargs == {"activation": "relu", "channels": [8, 16]}


def test_base_inheritance_merges_sections(tmp_path):
    write(tmp_path / "base.yaml", "optim: {name: sgd, lr: 0.1, momentum: 0.9}\ntrain: {epochs: 5}\n")
    child = write(tmp_path / "child.yaml", "_base_: base.yaml\noptim: {lr: 0.01}\n")
    cfg = load_config(child)
    assert (cfg.optim.name, cfg.optim.lr, cfg.optim.momentum, cfg.train.epochs) == ("sgd", 0.01, 0.9, 5)


def test_base_cycle_is_an_error(tmp_path):
    write(tmp_path / "a.yaml", "_base_: b.yaml\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")


@pytest.mark.parametrize(
    "override,message",
    [
        ("optim.lrr=0.1", r"unknown key optim.lrr \(did you mean optim.lr\?\)"),
        ("train.epochs=abc", r"train.epochs must be int >= 0, got 'abc'"),
        ("optim.lr=-1", r"optim.lr must be float > 0, got -1"),
        ("data.batch_size=0", r"data.batch_size must be int >= 1, got 0"),
        ("optim.name=adm", r"optim.name must be one of .*did you mean 'adam'"),
        ("train.deterministic=maybe", r"train.deterministic must be bool"),
        ("trian.epochs=2", r"unknown config section 'trian' \(did you mean train\?\)"),
        ("data.val_split=1.5", r"data.val_split must be float >= 0 and < 1"),
    ],
)
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.yaml", "model:\n  name: lenet5\ntrain: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+"):
        load_config(path)


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="empty"):
        load_config(write(tmp_path / "e.yaml", "# nothing\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_python_tags_are_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = write(tmp_path / "evil.yaml", f'model: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError, match="unsafe YAML tag"):
        load_config(path)
    assert not marker.exists()


def test_override_syntax():
    assert parse_overrides(["a.b=1", "a.c=[1, 2]", "a.d=text"]) == {"a": {"b": 1, "c": [1, 2], "d": "text"}}
    with pytest.raises(ConfigError):
        parse_overrides(["lr=0.1"])
    with pytest.raises(ConfigError):
        parse_overrides(["optim.lr"])


def test_round_trip_through_yaml(tmp_path):
    cfg = load_config(None, ["model.activation=relu", "optim.betas=[0.8,0.9]"])
    again = load_config(write(tmp_path / "r.yaml", cfg.to_yaml()))
    assert again == cfg


def test_bare_off_is_the_string_not_a_boolean(tmp_path):
    # YAML 1.1 reads `off` as False; for choice keys it means the choice "off".
    cfg = load_config(write(tmp_path / "c.yaml", "train: {amp: off}\nlog: {progress: off}\n"), ["log.progress=off"])
    assert cfg.train.amp == "off" and cfg.log.progress == "off"
    with pytest.raises(ConfigError, match="train.deterministic must be bool"):
        load_config(None, ["train.deterministic=off2"])
