"""The warnings rbo gives, as classes a caller can filter."""

from __future__ import annotations


class ProjectionWarning(RuntimeWarning):
    """Most of a ball's projections ended at ``proj_maxiter`` before they converged.

    The ball's steps are then not a rolling ball's: its contact point is not where it
    touches the graph. The remedy is a slower ball (a smaller ``lr`` or ``max_step``) or
    a larger ``proj_maxiter``; the count is ``proj_capped`` in the result
    (``roll.proj_capped`` for a polished run). Silence it, where the settings are meant,
    with ``warnings.filterwarnings("ignore", category=rbo.ProjectionWarning)``.

    Examples
    --------
    >>> import rbo
    >>> issubclass(rbo.ProjectionWarning, RuntimeWarning)
    True
    """
