"""The command line: ``rbo demo``, a tiny ``rbo bench`` and the help that explains them."""

from __future__ import annotations

import csv
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from rbo._cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_demo_prints_rbo_beside_lbfgsb_and_basinhopping_and_draws_the_paths(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "paths.png"
    code = main(["demo", "--starts", "2", "--budget", "150", "--png", str(png)])
    out = capsys.readouterr().out
    assert code == 0
    table = out.split("\n\n")[1].splitlines()
    assert [line.split()[0] for line in table[2:]] == ["rbo", "L-BFGS-B", "basinhopping"]
    assert "success" in table[0] and "median gap" in table[0]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_with_no_png_writes_no_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            [
                "demo",
                "--problem",
                "rastrigin",
                "--n",
                "2",
                "--starts",
                "1",
                "--budget",
                "50",
                "--no-png",
            ]
        )
        == 0
    )
    assert "rastrigin, n = 2" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_tiny_bench_writes_tables_whose_counts_match_its_runs(tmp_path, capsys):
    out = tmp_path / "bench"
    code = main(
        [
            "bench",
            "--problems",
            "rastrigin",
            "gaussian_wells",
            "--dims",
            "2",
            "3",
            "--methods",
            "rbo",
            "L-BFGS-B",
            "dual_annealing",
            "--starts",
            "2",
            "--budget",
            "80",
            "--out",
            str(out),
            "--quiet",
            "--no-plot",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    with open(out / "runs.csv") as fh:
        runs = list(csv.DictReader(fh))
    with open(out / "results.csv") as fh:
        summary = list(csv.DictReader(fh))
    # rastrigin at n = 2 and 3, gaussian_wells at its own n = 2; 3 methods; 2 starts each.
    assert len(runs) == 3 * 3 * 2 and len(summary) == 3 * 3
    assert all(int(r["nfev"]) <= 80 for r in runs)
    for s in summary:
        mine = [
            r
            for r in runs
            if (r["problem"], r["n"], r["method"]) == (s["problem"], s["n"], s["method"])
        ]
        assert int(s["successes"]) == sum(r["success"] == "True" for r in mine)
    report = (out / "results.md").read_text()
    assert "python -m rbo bench --problems rastrigin gaussian_wells" in report
    assert "| gaussian_wells | 2 |" in report and "rbo vs local" in report
    assert "problem instances" in printed and not (out / "success.png").exists()


def test_bench_plot_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    main(
        [
            "bench",
            "--problems",
            "quadratic",
            "--dims",
            "2",
            "--methods",
            "rbo",
            "CG",
            "--starts",
            "1",
            "--budget",
            "20",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert (tmp_path / "success.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("command", ["demo", "bench"])
def test_every_option_of_every_command_has_a_help_text(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        assert action.help, action.dest
        assert action.option_strings[0] in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "--starts", "0"], "must be a positive integer"),
        (["bench", "--problems", "sphere"], "invalid choice: 'sphere'"),
        (["demo", "--radius", "-1"], "must be positive"),
        ([], "required"),
    ],
)
def test_bad_arguments_exit_with_status_2_and_name_the_problem(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_console_script_rbo_resolves_to_the_command_line_entry_point(capsys):
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["rbo"]
    module, name = spec.split(":")
    entry = getattr(importlib.import_module(module), name)
    with pytest.raises(SystemExit):
        entry(["--help"])
    assert "{demo,bench}" in capsys.readouterr().out


def test_python_dash_m_rbo_runs_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "rbo", "bench", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0 and "--budget" in done.stdout


def test_version_prints_the_package_version_and_exits_0(capsys):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"rbo {version}\n"
    assert importlib.import_module("rbo").__version__ == version
