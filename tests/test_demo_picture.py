"""The demo's picture: the ball's centre and contact points, the best points, a fitted view."""

from __future__ import annotations

import numpy as np
import pytest

from rbo import problems
from rbo._demo import plot_paths


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    pytest.importorskip("matplotlib")
    png = tmp_path_factory.mktemp("demo") / "paths.png"
    out = plot_paths("riemann", png, budget=300)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return out


def test_demo_picture_view_holds_every_point_it_draws(drawn):
    lo, hi = drawn["view"]
    points = [drawn["contacts"], drawn["centres"], drawn["lbfgs"]]
    points += [np.asarray([x]) for x, _ in drawn["best"].values()]
    for pts in points:
        assert np.all(pts >= lo) and np.all(pts <= hi)


def test_demo_picture_draws_the_centres_path_apart_from_the_contact_points(drawn):
    contacts, centres = drawn["contacts"], drawn["centres"]
    assert contacts.shape == centres.shape and len(contacts) > 2
    # The centre sits at radius 1 above the graph: away from its contact point on a slope.
    assert np.max(np.linalg.norm(centres - contacts, axis=1)) > 1e-3


def test_demo_picture_marks_the_best_point_each_method_evaluated(drawn):
    p = problems.get("riemann")
    for name, (x, f) in drawn["best"].items():
        assert f == pytest.approx(float(p.value_and_grad(np.asarray(x))[0])), name
    # No contact point of rbo's path is better than the best point marked.
    rbo_f = [float(p.value_and_grad(x)[0]) for x in drawn["contacts"]]
    assert drawn["best"]["rbo"][1] <= min(rbo_f) + 1e-12


def test_demo_picture_stars_only_true_copies_of_the_global_minimum_in_view(drawn):
    p = problems.get("riemann")
    _, fmin = p.minimum(2)
    lo, hi = drawn["view"]
    for x in drawn["minima"]:
        assert np.all(x >= lo) and np.all(x <= hi)
        assert float(p.value_and_grad(x)[0]) == pytest.approx(fmin)
