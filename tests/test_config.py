"""Training settings from the command line: typed, nested, unknown keys rejected; bad specs fail fast."""

import pytest

from training.cli import main
from training.config import ConfigError, TrainConfig, apply_overrides


def test_overrides_reach_nested_fields_with_their_types():
    config = apply_overrides(TrainConfig(), [
        "seed=7", "gru4rec.loss=bpr-max", "retrieval.tower_widths=128,64", "retrieval.normalize=false",
        "ranking.encoder.use_age=false", "narm.dropout_context=0.3",
    ])
    assert config.seed == 7 and config.gru4rec.loss == "bpr-max"
    assert config.retrieval.tower_widths == (128, 64) and config.retrieval.normalize is False
    assert config.ranking.encoder.use_age is False and config.ranking.encoder.use_user_features is True
    assert config.ranking.encoder.use_history_ratings is True  # the ranking model's own defaults are kept
    assert config.narm.dropout_context == 0.3
    assert TrainConfig().gru4rec.loss == "cross-entropy"  # defaults untouched


def test_settings_come_from_the_environment_like_the_servers(monkeypatch):
    monkeypatch.setenv("RECSYS_SEED", "11")
    monkeypatch.setenv("RECSYS_GRU4REC__LOSS", "bpr-max")
    monkeypatch.setenv("RECSYS_PORT", "9000")  # the server's, ignored here
    config = TrainConfig()
    assert config.seed == 11 and config.gru4rec.loss == "bpr-max"
    assert apply_overrides(config, ["seed=12"]).seed == 12  # the command line wins


@pytest.mark.parametrize("override, message", [
    ("gru4rec.hiden_size=10", "unknown setting 'gru4rec.hiden_size'"),
    ("gru4rec.loss=top1", "not a valid"),
    ("seed=seven", "seed='seven': not a valid setting: Input should be a valid integer"),
    ("split=sideways", "not a valid"),
    ("seed", "expected section.field=value"),
])
def test_bad_overrides_are_rejected(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(TrainConfig(), [override])


@pytest.mark.parametrize("arguments, message", [
    (["--data", "movielens:/x"], "unknown source 'movielens'"),
    (["--data", "ml-100k"], "needs a path"),
    (["--sessions", "from-data:/x"], "takes no path"),
    (["--set", "nope=1"], "unknown setting"),
    (["--data", "ml-100k:/no/such/folder"], "/no/such/folder"),
])
def test_train_cli_fails_fast_with_a_clear_message(arguments, message, capsys, tmp_path):
    assert main([*arguments, "--artifacts", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
