"""Run configurations and profiles: validation messages, stable keys, grids, profile selection."""
import dataclasses
import hashlib
import json

import pytest

from cocorr_core.ground.errors import ConfigError, UserError
from cocorr_core.ground.profiles import PROFILE_ENV, profile_name
from cocorr_core.papers.cocorrelation.settings import PROFILES, get_profile
from cocorr_core.runs.config import RunConfig, grid

EXPLICIT = {
    "model": "two_layer", "activation": "relu", "width": 256, "q": -0.15, "head": "code",
    "dataset": "mnist", "n_train": 1000, "n_test": 500, "optimizer": "sgd", "loss": "ce",
    "lr": 0.003, "batch_size": 512, "epochs": 5, "measures": ["cocorrelation", "dirichlet"],
    "attack_eps": 0.5, "attack_n": 100, "cut": "", "seed": 2, "device": "cpu", "profile": "quick",
}


@pytest.mark.parametrize("field, value, allowed", [
    ("width", 0, "[1, inf]"),
    ("q", 3.0, "[-2.0, 2.0]"),
    ("lr", 0.0, "(0.0, inf]"),
    ("epochs", -1, "[0, inf]"),
    ("seed", -3, "[0, inf]"),
    ("attack_eps", -0.1, "[0.0, inf]"),
    ("batch_size", 1.5, "integer"),
    ("n_train", True, "integer"),
    ("q", float("nan"), "finite"),
    ("activation", "tanh", "('linear', 'relu')"),
    ("dataset", "imagenet", "'mnist'"),
    ("device", "tpu", "'cuda'"),
    ("profile", "huge", "'paper'"),
])
def test_validation_names_field_value_and_range(field, value, allowed):
    with pytest.raises(ConfigError) as err:
        RunConfig(**{field: value})
    message = str(err.value)
    assert message.startswith(f"{field}={value!r}")
    assert allowed in message
    assert isinstance(err.value, UserError) and isinstance(err.value, ValueError)


def test_bce_needs_theory_head():
    with pytest.raises(ConfigError, match="head='theory'"):
        RunConfig(loss="bce", head="code")
    RunConfig(loss="bce", head="theory")


def test_key_matches_an_independent_hash():
    cfg = RunConfig(**{**EXPLICIT, "measures": tuple(EXPLICIT["measures"])})
    without_device = {k: v for k, v in EXPLICIT.items() if k != "device"}
    blob = json.dumps(without_device, sort_keys=True, separators=(",", ":"))
    expected = hashlib.sha256(blob.encode()).hexdigest()[:16]
    assert cfg.key() == expected
    assert expected == "4240e7c5222ac96a"  # stored results are filed under this key: it must not drift
    assert cfg.replace(device="auto").key() == cfg.key()


def _other_value(name, value):
    """A valid value different from `value` for field `name`."""
    alternatives = {
        "model": ("two_layer", "resnet50"), "activation": ("relu", "linear"), "head": ("theory", "code"),
        "dataset": ("mnist", "digits"), "optimizer": ("sgd", "adam"), "loss": ("ce", "bce"),
        "profile": ("quick", "paper"), "cut": ("", "layer3"),
        "measures": (("cocorrelation",), ("dirichlet",)),
    }
    if name in alternatives:
        return next(v for v in alternatives[name] if v != value)
    if isinstance(value, float):
        return value / 2 if value else 0.25
    return value + 1


def test_key_changes_with_every_field_but_device():
    base = RunConfig(**{**EXPLICIT, "measures": tuple(EXPLICIT["measures"])}).replace(head="theory")
    names = [f.name for f in dataclasses.fields(RunConfig) if f.name != "device"]
    assert len(names) == 19
    keys = {base.key()}
    for name in names:
        changed = base.replace(**{name: _other_value(name, getattr(base, name))})
        assert getattr(changed, name) != getattr(base, name)
        assert changed.key() != base.key(), name
        keys.add(changed.key())
    assert len(keys) == len(names) + 1


def test_dict_round_trip_and_unknown_fields():
    cfg = RunConfig(width=128, measures=["cocorrelation"])
    assert cfg.measures == ("cocorrelation",)
    d = cfg.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert RunConfig.from_dict(d) == cfg
    with pytest.raises(ConfigError, match="wdth"):
        RunConfig.from_dict({**d, "wdth": 3})


def test_grid_expands_cartesian_product():
    base = RunConfig()
    runs = grid(base, width=[16, 64, 256], q=[0.0, 0.25])
    assert len(runs) == 6
    assert {(r.width, r.q) for r in runs} == {(w, q) for w in (16, 64, 256) for q in (0.0, 0.25)}
    assert all(r.replace(width=base.width, q=base.q) == base for r in runs)
    assert len({r.key() for r in runs}) == 6
    assert grid(base) == [base]
    with pytest.raises(ConfigError, match="depth"):
        grid(base, depth=[2, 3])
    with pytest.raises(ConfigError, match="width=0"):
        grid(base, width=[16, 0])


def test_profile_name_reads_environment(monkeypatch):
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert profile_name() == "quick"
    monkeypatch.setenv(PROFILE_ENV, "paper")
    assert profile_name() == "paper" and get_profile() is PROFILES["paper"]
    monkeypatch.setenv(PROFILE_ENV, " Paper ")
    assert profile_name() == "paper"
    assert profile_name("quick") == "quick"  # the argument wins over the environment
    monkeypatch.setenv(PROFILE_ENV, "fast")
    with pytest.raises(ConfigError, match=rf"profile='fast'.*quick.*paper.*{PROFILE_ENV}"):
        profile_name()
    with pytest.raises(ConfigError, match="profile='huge'"):
        get_profile("huge")


def test_profiles_are_consistent():
    for name, prof in PROFILES.items():
        assert prof.name == name
        assert prof.n_train >= 1 and prof.n_test >= 1 and prof.epochs >= 1 and prof.seeds >= 1
        assert list(prof.widths) == sorted(set(prof.widths)) and min(prof.widths) >= 1
        # every profile value must be accepted by RunConfig
        for width, q in zip(prof.widths, prof.qs):
            RunConfig(width=width, q=q, n_train=prof.n_train, n_test=prof.n_test, epochs=prof.epochs,
                      batch_size=prof.batch_size, lr=prof.lr, attack_n=prof.attack_n, profile=name)
    quick, paper = PROFILES["quick"], PROFILES["paper"]
    assert quick.n_train <= paper.n_train and quick.epochs <= paper.epochs
    assert paper.n_train <= 60000 and paper.n_test <= 10000  # MNIST's split sizes
