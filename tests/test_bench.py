"""The benchmark harness: one budget for all, the best point kept, success counted right."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from rbo import problems
from rbo._bench import (
    BudgetExhausted,
    Counted,
    Run,
    Summary,
    Target,
    default_methods,
    method,
    run_counted,
    start_points,
    success_curve,
    summarize,
    target,
)
from rbo.problems import Problem


def _double_well(x, xp=np):
    """``(x² − 1)² + 0.2 x`` per coordinate: global minimum near −1, a local one near +1."""
    return np.sum((x * x - 1.0) ** 2 + 0.2 * x, axis=-1), 4.0 * x * (x * x - 1.0) + 0.2


DOUBLE_WELL = Problem(name="double_well", value_and_grad=_double_well, lower=-2.0, upper=2.0)
# Its global minimiser solves 4x(x² − 1) + 0.2 = 0 near −1; the local maximum lies near 0.05.
X_STAR = -1.0242
F_STAR = float(_double_well(np.array([X_STAR]))[0])


def test_success_rate_of_local_descent_on_a_double_well_is_the_share_of_starts_left_of_the_hump():
    tgt = Target(fmin=F_STAR, argmin=(X_STAR,), radius=0.5)
    starts = [-1.9, -0.5, -0.2, 0.5, 1.9]  # three left of the hump at 0.05: known answer 3/5
    runs = []
    for i, x0 in enumerate(starts):
        obj, elapsed, error = run_counted(
            DOUBLE_WELL, tgt, method("L-BFGS-B"), np.array([x0]), seed=i, budget=200
        )
        assert error == ""
        runs.append(
            Run(
                "double_well",
                1,
                "L-BFGS-B",
                i,
                tgt.reached(obj.best_x, obj.best_f),
                obj.best_f - tgt.fmin,
                obj.best_f,
                obj.nfev,
                elapsed,
                tuple(obj.trace),
            )
        )
    (s,) = summarize(runs, targets=lambda name, n: tgt)
    assert (s.successes, s.runs) == (3, 5)
    assert s.success_rate == pytest.approx(0.6)
    assert [r.success for r in runs] == [True, True, True, False, False]
    # Descent ends at a minimum: the failures' gap is the two wells' difference, 0.4.
    assert sorted(r.gap for r in runs)[-1] == pytest.approx(0.4, abs=0.01)


def test_success_curve_counts_the_runs_whose_best_point_had_succeeded_by_each_budget():
    def run(trace):
        return Run("p", 2, "m", 0, bool(trace and trace[-1][1]), 0.0, 0.0, 100, 0.0, trace)

    runs = [
        run(((1, False), (10, True))),  # succeeds at evaluation 10
        run(((1, True), (50, False))),  # succeeds, then a lower point outside the basin
        run(((1, False),)),  # never
        run(((30, True),)),  # succeeds at 30
    ]
    assert success_curve(runs, [1, 9, 10, 29, 30, 49, 50, 100]) == [
        0.25,
        0.25,
        0.5,
        0.5,
        0.75,
        0.75,
        0.5,
        0.5,
    ]


def test_counted_objective_caps_every_method_at_the_budget_and_keeps_the_best_value():
    p = problems.rastrigin
    x0 = start_points("rastrigin", 2, 1, seed=0)[0]
    budget = 60
    for m in default_methods():
        seen = []

        def spy(x, seen=seen):
            f, g = p.value_and_grad(x)
            seen.append(float(f))
            return f, g

        obj = Counted(spy, budget)
        try:
            m.run(obj, x0.copy(), lower=p.lower, upper=p.upper, seed=0, budget=budget)
        except BudgetExhausted:
            pass
        assert obj.nfev == len(seen) <= budget, m.label
        assert obj.best_f == min(seen), m.label
    # The global searchers use the whole budget, and are stopped by it.
    for label in ("basinhopping", "dual_annealing"):
        obj, _, error = run_counted(
            p, target("rastrigin", 2), method(label), x0, seed=0, budget=budget
        )
        assert (obj.nfev, error) == (budget, ""), label


def test_gradient_asked_at_the_point_just_valued_is_not_counted_again():
    obj = Counted(problems.quadratic.value_and_grad, budget=3)
    x = np.array([1.0, 2.0])
    obj.value(x)
    obj.grad(x)
    obj.value_and_grad(x.copy())
    assert obj.nfev == 1
    obj.grad(np.array([0.0, 0.0]))
    assert (obj.nfev, obj.best_f) == (2, 0.0)


@pytest.mark.parametrize("budget", [0, -1, 1.5, True])
def test_counted_rejects_a_budget_that_is_not_a_positive_integer(budget):
    with pytest.raises(ValueError, match="budget"):
        Counted(problems.quadratic.value_and_grad, budget)


def test_targets_judge_by_basin_where_one_is_defined_and_by_value_gap_elsewhere():
    t = target("rastrigin", 10)
    assert t.radius == problems.rastrigin.basin_radius and t.gap_tol is None
    assert t.reached(np.full(10, 0.1), 1.0) and not t.reached(np.full(10, 0.2), 0.0)
    w = target("weierstrass", 2)
    assert w.radius is None and 0.0 < w.gap_tol < 0.1
    # Riemann's minimiser repeats every 2π: a copy shifted by 2π is a success.
    r = target("riemann", 2)
    assert r.reached(np.array(r.argmin) + 2.0 * math.pi, 0.0)
    assert not r.reached(np.array(r.argmin) + 1.0, 0.0)


def test_noisy_regression_reference_minimum_lies_near_the_true_parameters():
    t = target("noisy_regression", 2)
    reg = problems.PROBLEMS["noisy_regression"]
    assert t.gap_tol is not None and t.fmin < 0.1**2 * 1.5  # about the noise variance
    fit = reg(np.array(reg.true_params))
    assert t.fmin <= float(fit)


def test_starts_are_the_same_for_every_method_and_independent_of_other_problems():
    a = start_points("levy", 10, 4, seed=3)
    assert np.array_equal(a, start_points("levy", 10, 4, seed=3))
    assert not np.array_equal(a, start_points("levy", 10, 4, seed=4))
    assert np.all((a >= problems.levy.lower) & (a <= problems.levy.upper))


def test_unknown_method_is_a_value_error_naming_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown method 'nelder'.*L-BFGS-B"):
        method("nelder")


def test_target_needs_exactly_one_success_rule():
    with pytest.raises(ValueError, match="exactly one"):
        Target(fmin=0.0, argmin=(0.0,), radius=1.0, gap_tol=1.0)
    with pytest.raises(ValueError, match="exactly one"):
        Target(fmin=0.0)


def test_worker_processes_give_the_same_runs_as_one_process():
    from rbo._bench import run_suite

    args = (["levy", "wrinkled_bowl"], [2], [method("rbo"), method("dual_annealing")], 2, 60)
    one = run_suite(*args, seed=5, jobs=1)
    two = run_suite(*args, seed=5, jobs=2)
    key = [(r.problem, r.method, r.start, r.success, r.gap, r.nfev, r.trace) for r in one]
    assert key == [(r.problem, r.method, r.start, r.success, r.gap, r.nfev, r.trace) for r in two]


def _rugged_script():
    """benchmarks/rugged.py as a module (the benchmarks folder is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "rugged.py"
    spec = importlib.util.spec_from_file_location("rugged_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_suites_split_the_problems_into_landscapes_and_science():
    from rbo._bench import SUITES

    assert set(SUITES["landscapes"]) | set(SUITES["science"]) == set(problems.PROBLEMS)
    assert set(SUITES["rugged"]) == set(SUITES["landscapes"]) - {"quadratic", "rosenbrock"}
    assert {"lj7", "lj13", "lj38"} <= set(SUITES["science"])


def test_rbo_runs_record_their_evaluations_per_step_and_other_methods_none():
    from rbo._bench import run_one

    x0 = start_points("rastrigin", 2, 1, seed=0)[0]
    r = run_one("rastrigin", 2, method("rbo"), 0, x0, 0, 300)
    assert 1.0 <= r.evals_per_step <= r.nfev
    assert math.isnan(run_one("rastrigin", 2, method("L-BFGS-B"), 0, x0, 0, 300).evals_per_step)
    (s,) = summarize([r])
    assert s.median_evals_per_step == r.evals_per_step


def test_science_problems_run_in_the_bench_command(tmp_path):
    from rbo._cli import build_parser, main

    assert build_parser().parse_args(["bench", "--suite", "science"]).suite == "science"
    out = tmp_path / "bench"
    args = ["bench", "--problems", "lj7", "sinusoids", "--methods", "L-BFGS-B", "--starts", "1"]
    assert main([*args, "--budget", "30", "--out", str(out), "--no-plot", "--quiet"]) == 0
    text = (out / "results.md").read_text()
    assert "lj7" in text and "sinusoids" in text and "f − f* ≤ 0.01651" in text


def _summary(problem, label, successes, gap):
    return Summary(problem, 2, label, 10, successes, gap, 100.0, 0.1, "", 0)


def test_rugged_verdicts_pass_and_fail_on_known_tables():
    rugged = _rugged_script()
    local = {m: 0 for m in rugged.LOCAL}
    # Two rugged instances: rbo 3 + 3 successes against L-BFGS-B's 1 + 1 (3x), smaller gaps
    # on both, no local method above it: every target passes.
    rows = {
        ("a", 2): {"rbo": _summary("a", "rbo", 3, 0.1)}
        | {m: _summary("a", m, local[m] + (m == "L-BFGS-B"), 1.0) for m in local},
        ("b", 2): {"rbo": _summary("b", "rbo", 3, 0.1)}
        | {m: _summary("b", m, local[m] + (m == "L-BFGS-B"), 1.0) for m in local},
    }
    lines = rugged.verdicts("rbo", rows, rugged=set(rows))
    assert [line[:8] for line in lines] == ["(a) PASS", "(b) PASS", "(c) PASS", "(d) PASS"]
    assert "6 successes against L-BFGS-B's 2 (3.00x" in lines[1]
    # One fewer success than SGD on one instance, an equal gap on the other, 5 against 2.
    rows[("a", 2)]["rbo"] = _summary("a", "rbo", 2, 0.1)
    rows[("a", 2)]["sgd"] = _summary("a", "sgd", 3, 0.5)
    rows[("b", 2)]["rbo"] = _summary("b", "rbo", 3, 1.005)
    lines = rugged.verdicts("rbo", rows, rugged=set(rows))
    assert [line[:8] for line in lines] == ["(a) PASS", "(b) FAIL", "(c) FAIL", "(d) FAIL"]
    assert "1/2 instances (50 %" in lines[2] and "a n=2 to sgd (3 vs 2)" in lines[3]
    assert rugged.best_method(rows[("a", 2)]) == "sgd"


def test_rugged_benchmark_runs_variants_side_by_side(capsys):
    rugged = _rugged_script()
    argv = ["--quick", "--problems", "rastrigin", "lj7", "--dims", "2", "--starts", "1"]
    argv += ["--budget", "40", "--science-budget", "40", "--variant", 'small={"radius": 0.3}']
    assert rugged.main(argv) == 0
    out = capsys.readouterr().out
    assert "| rastrigin | 2 | " in out and "| lj7 | 21 | " in out
    assert "**rbo** against" in out and "**small** against" in out
    assert out.count("(a) ") == 2 and "median evaluations per rbo step" in out
    with pytest.raises(SystemExit):
        rugged.main(["--variant", "broken={radius"])


def test_provenance_names_the_blas_kernels_that_rounded_the_figures():
    pytest.importorskip("threadpoolctl")
    from threadpoolctl import threadpool_info

    from rbo._bench._report import provenance

    line = provenance("cmd", 1.0, 1).splitlines()[3]
    kinds = [d.get("architecture") for d in threadpool_info() if d.get("user_api") == "blas"]
    assert line.startswith("- software:") and "BLAS" in line
    for kind in kinds:
        assert f"({kind} kernels)" in line
