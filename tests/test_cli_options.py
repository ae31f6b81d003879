"""matching.cli_options: flags derived from dataclass fields, and instances from the flags."""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

import pytest

from matching.cli_options import add_dataclass_arguments, dataclass_from_args


@dataclass
class Options:
    count: int = field(default=3, metadata={"help": "how many", "metavar": "N"})
    rate: float = field(default=0.5, metadata={"help": "a rate", "short": "-r"})
    name: str = field(default="a", metadata={"help": "a name", "choices": ("a", "b")})
    label: Optional[str] = field(default=None, metadata={"help": "a label"})
    limit: Optional[int] = field(default=None, metadata={"help": "a limit"})
    sizes: Tuple[int, ...] = field(default=(4, 8), metadata={"help": "sizes",
                                                             "flag": "--size"})
    verbose: bool = field(default=False, metadata={"help": "say more"})
    progress: bool = field(default=True, metadata={"help": "no bar", "flag": "--quiet"})
    hidden: int = 7                                    # no help: no flag
    extra: Optional[Dict[str, Any]] = field(default=None, metadata={"help": "a dict"})


def _parser(**kw) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="t")
    add_dataclass_arguments(parser, Options, skip=("extra",), **kw)
    return parser


def test_defaults_round_trip():
    assert dataclass_from_args(Options, _parser().parse_args([])) == Options()


def test_flags_types_tuples_and_bools():
    args = _parser().parse_args(["--count", "5", "-r", "0.25", "--name", "b", "--label", "x",
                                 "--limit", "9", "--size", "1", "2", "3", "--verbose",
                                 "--quiet"])
    opts = dataclass_from_args(Options, args)
    assert opts == Options(count=5, rate=0.25, name="b", label="x", limit=9, sizes=(1, 2, 3),
                           verbose=True, progress=False)
    assert isinstance(opts.sizes, tuple)
    assert dataclass_from_args(Options, args, count=1, hidden=2).count == 1   # extra wins


def test_help_defaults_metavar_and_hidden_fields():
    text = _parser().format_help()
    assert "how many (default: 3)" in text and "--count N" in text
    assert "sizes (default: 4 8)" in text
    assert "say more" in text and "(default: False)" not in text       # bools: no value
    assert "a label" in text and "(default: None)" not in text
    assert "--hidden" not in text and "--extra" not in text and "--progress" not in text


def test_bad_values_and_unsupported_types():
    with pytest.raises(SystemExit):
        _parser().parse_args(["--name", "c"])                 # not among the choices
    with pytest.raises(SystemExit):
        _parser().parse_args(["--count", "x"])
    with pytest.raises(TypeError, match="extra"):
        add_dataclass_arguments(argparse.ArgumentParser(), Options)   # a dict: skip it


def test_train_flags_come_from_train_config():
    from matching.cli import build_parser
    from matching.training import TrainConfig
    parser = build_parser()
    args = parser.parse_args(["train", "-o", "x"])
    assert dataclass_from_args(TrainConfig, args) == TrainConfig()
    args = parser.parse_args(["train", "-o", "x", "--channels", "8", "8", "--no-p-adam",
                              "--quiet", "--lr", "0.01", "--theta-is", "--loss", "scrapl"])
    cfg = dataclass_from_args(TrainConfig, args)
    assert (cfg.out_channels, cfg.p_adam, cfg.p_saga, cfg.progress, cfg.lr, cfg.theta_is) == (
        (8, 8), False, True, False, 0.01, True)
