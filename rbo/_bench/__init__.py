"""The benchmark behind ``python -m rbo bench``: rbo against scipy and the baselines.

Every method sees a problem through one counted objective that caps the evaluations at the
same budget and records the best point found, so that all are judged alike. The harness is
NumPy-based (scipy's optimizers are); ``import rbo`` does not import it.
"""

from ._budget import BudgetExhausted as BudgetExhausted
from ._budget import Counted as Counted
from ._methods import BASELINES as BASELINES
from ._methods import LOCAL_METHODS as LOCAL_METHODS
from ._methods import SCIPY_METHODS as SCIPY_METHODS
from ._methods import Method as Method
from ._methods import default_methods as default_methods
from ._methods import method as method
from ._report import details_table as details_table
from ._report import evaluation_grid as evaluation_grid
from ._report import headline_table as headline_table
from ._report import plot_success as plot_success
from ._report import provenance as provenance
from ._report import tally as tally
from ._report import verdict as verdict
from ._report import write_csv as write_csv
from ._suite import SUITES as SUITES
from ._suite import Run as Run
from ._suite import Summary as Summary
from ._suite import evals_per_step as evals_per_step
from ._suite import instances as instances
from ._suite import run_counted as run_counted
from ._suite import run_one as run_one
from ._suite import run_suite as run_suite
from ._suite import start_points as start_points
from ._suite import success_at as success_at
from ._suite import success_curve as success_curve
from ._suite import summarize as summarize
from ._targets import GAP_FRACTION as GAP_FRACTION
from ._targets import REFERENCE_STARTS as REFERENCE_STARTS
from ._targets import Target as Target
from ._targets import target as target
