"""rbo: the Rolling Ball Optimizer, written once against the Python Array API.

A ball of radius ``radius`` rolls on the graph of ``f``: its centre takes a descent step,
then is projected back so that the ball touches the graph again. Wrinkles, noise and
wells narrower than the ball cannot hold it.

Examples
--------
>>> import numpy as np
>>> import rbo
>>> q = rbo.problems.quadratic
>>> res = rbo.minimize(q, np.ones(3), jac=q.jac, radius=0.1)
>>> res.success, bool(res.fun < 1e-10)
(True, True)
"""

from . import backends as backends
from . import problems as problems
from ._descent import DescentState as DescentState
from ._entropy_sgd import EntropySGD as EntropySGD
from ._lbfgs import LBFGS as LBFGS
from ._minimize import METHODS as METHODS
from ._minimize import minimize as minimize
from ._multistart import multistart as multistart
from ._projection import ProjStatus as ProjStatus
from ._rolling_ball import RBO as RBO
from ._rolling_ball import RBOState as RBOState
from ._sam import SAM as SAM
from ._scipy import scipy_method as scipy_method
from ._sgd import SGD as SGD
from ._status import Status as Status
from ._stepwise import Incumbent as Incumbent
from ._stepwise import RollingBall as RollingBall
from ._stepwise import Stepper as Stepper
from ._warnings import ProjectionWarning as ProjectionWarning

__version__ = "0.1.0"

__all__ = [
    "LBFGS",
    "METHODS",
    "RBO",
    "SAM",
    "SGD",
    "DescentState",
    "EntropySGD",
    "Incumbent",
    "ProjStatus",
    "ProjectionWarning",
    "RBOState",
    "RollingBall",
    "Status",
    "Stepper",
    "backends",
    "minimize",
    "multistart",
    "problems",
    "scipy_method",
]
