"""Typed configs from YAML and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from facetalk.config import Config, config_to_yaml, load_config
from facetalk.errors import InvalidInputError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_defaults_yaml_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 0.01\nmodel:\n  options:\n    width: 8\n")
    config = load_config(path, ["optim.lr=0.5", "train.max_steps=7", "model.options.layers=3", "loss.velocity=0.5"])
    assert isinstance(config, Config)
    assert config.optim.lr == 0.5 and config.train.max_steps == 7 and config.data.window == 48
    assert config.model.options == {"width": 8, "layers": 3}
    assert config.loss == {"reconstruction": 1.0, "velocity": 0.5}
    assert load_config(None, []).train.seed == 0
    again = tmp_path / "again.yaml"
    again.write_text(config_to_yaml(config))
    assert load_config(again) == config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [(["optim.lrr=1"], "lrr"), (["train.max_steps=many"], "max_steps"), (["optim.lr"], "key=value")],
)
def test_bad_overrides_are_one_line_errors(overrides: list[str], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as info:
        load_config(None, overrides)
    assert "\n" not in str(info.value)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  colour: red\n")
    with pytest.raises(InvalidInputError, match="colour") as info:
        load_config(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_configs_load(path: Path) -> None:
    """Every shipped config loads once the values it requires (`???`: the corpus, local checkouts of pretrained
    encoders or language models, the user's FLAME file) are given on the command line."""
    missing = sorted(OmegaConf.missing_keys(OmegaConf.load(path)))
    config = load_config(path, [f"{key}=/somewhere" for key in missing])
    assert all(OmegaConf.select(OmegaConf.structured(config), key) == "/somewhere" for key in missing)


def test_a_files_loss_terms_replace_the_default(tmp_path: Path) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_text("loss:\n  frame_l2: 1.0\n")
    assert load_config(path).loss == {"frame_l2": 1.0}  # not {"reconstruction": 1.0, "frame_l2": 1.0}
    assert load_config(path, ["loss.velocity=0.5"]).loss == {"frame_l2": 1.0, "velocity": 0.5}
    assert load_config(None).loss == {"reconstruction": 1.0}
