"""The retry budget: retries in flight bounded by a share of the requests in flight.

Why a budget and not a retry count alone: "3 retries per request" lets a
failing backend triple the load on the group exactly when it can least take
it. Envoy's retry budgets (``budget_percent``, ``min_retry_concurrency``) bound
the retries *in flight* to a share of the *active* requests, so a handful of
unlucky requests is retried at once while a group-wide failure is not
amplified. A retry the budget refuses is answered 503.

Only retries of requests a backend may have processed (``reset``,
``stale_connection``) draw on the budget: one a backend never processed
(``refused``, ``connect_failed``) cost it nothing, and bounding those would
turn each backend restart into errors (``retry.py``).

Pure bookkeeping: the caller says when a request or a retry starts and ends.
"""

from __future__ import annotations

from .config import BudgetSettings

__all__ = ["RetryBudget"]


class RetryBudget:
    """Counts of one group's active requests and retries, and the rule between them."""

    __slots__ = ("_min", "_share", "active_requests", "active_retries")

    def __init__(self, settings: BudgetSettings) -> None:
        self._share = settings.budget_percent / 100.0
        self._min = settings.min_retry_concurrency
        #: Requests of the group in flight (a retry counts as its request, once).
        self.active_requests = 0
        #: Retries in flight.
        self.active_retries = 0

    @property
    def limit(self) -> int:
        """Retries allowed in flight now: max(min_retry_concurrency, share of active)."""
        return max(self._min, int(self.active_requests * self._share))

    def try_acquire(self) -> bool:
        """Start a retry if the budget allows it; the caller must ``release`` it."""
        if self.active_retries >= self.limit:
            return False
        self.active_retries += 1
        return True

    def release(self) -> None:
        """A retry ended (success or not)."""
        self.active_retries -= 1
