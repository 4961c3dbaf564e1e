"""The anti-flap rule: a sliding window of the last `window` probes with a minimum count, and a Wilson score
interval on its pass ratio.

The canary is alerting (and the alert rules fire) when both hold:

* the window holds at least `min_window_probes` probes, and
* the 95% Wilson score interval's UPPER bound of the window's pass ratio is below the target pass ratio, i.e. we
  are 95% sure that the true pass ratio is below the target.

One unlucky probe among many passes cannot push the upper bound below a target such as 0.9 (49/50 passed gives an
upper bound of 0.996; even 17/20 gives 0.95); a run of failures does, once enough probes are in the window.
Errors (the endpoint failed to answer) count in the window as probes that did not pass, as unparsed answers do:
a production model that does not answer fails its users as surely as one that answers wrong. They are also
counted by type in `rayeval_canary_errors_total`, so an alert can tell the two apart.

With several suites (a ShopBench pool and general-ability guards), every suite has a window of its own, of the
same size, minimum and target: the canary alerts when ANY suite's window alerts. A pooled
ratio would let a large healthy ShopBench pool hide a guard suite that collapsed, the regression suites exist to
catch (the evaluation's gate fails on any suite's check, for the same reason). A suite's window fills at its
share of the rotation's draws, so a small suite takes longer to reach min_window_probes.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from statistics import NormalDist

CONFIDENCE = 0.95
Z_95 = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)  # 1.959963984540054


def wilson_interval(passed: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of passed/total; (0, 1) for an empty sample (nothing is known)."""
    if not 0 <= passed <= total:
        raise ValueError(f"need 0 <= passed <= total; got {passed} of {total}")
    if total == 0:
        return 0.0, 1.0
    ratio = passed / total
    denominator = 1 + z * z / total
    centre = (ratio + z * z / (2 * total)) / denominator
    half = z * math.sqrt(ratio * (1 - ratio) / total + z * z / (4 * total * total)) / denominator
    # At 0/n and n/n the ends are exactly 0 and 1; rounding would put them a hair off.
    lower = 0.0 if passed == 0 else max(0.0, centre - half)
    upper = 1.0 if passed == total else min(1.0, centre + half)
    return lower, upper


class ProbeWindow:
    """The last `size` probe outcomes (passed or not) and the alert decision on them."""

    def __init__(self, size: int, min_probes: int, target: float):
        self.size, self.min_probes, self.target = size, min_probes, target
        self._outcomes: deque[bool] = deque(maxlen=size)

    def add(self, passed: bool) -> None:
        self._outcomes.append(bool(passed))

    @property
    def probes(self) -> int:
        return len(self._outcomes)

    @property
    def passed(self) -> int:
        return sum(self._outcomes)

    @property
    def pass_ratio(self) -> float | None:
        """None while the window is empty (no ratio to speak of)."""
        return self.passed / self.probes if self.probes else None

    @property
    def bounds(self) -> tuple[float, float]:
        return wilson_interval(self.passed, self.probes)

    @property
    def alert(self) -> bool:
        """Enough probes, and 95% sure the true pass ratio is below the target."""
        return self.probes >= self.min_probes and self.bounds[1] < self.target

    def summary(self) -> dict:
        lower, upper = self.bounds
        return {"size": self.size, "probes": self.probes, "passed": self.passed, "pass_ratio": self.pass_ratio,
                "wilson_lower": lower, "wilson_upper": upper, "confidence": CONFIDENCE,
                "min_probes": self.min_probes, "target_pass_ratio": self.target, "alert": self.alert}


class SuiteWindows:
    """A window per suite, and the whole pool's (the last `size` probes of any suite, for /state's overview)."""

    def __init__(self, suites: Sequence[str], size: int, min_probes: int, target: float):
        self.suites = {suite: ProbeWindow(size, min_probes, target) for suite in suites}
        self.whole = ProbeWindow(size, min_probes, target)

    def add(self, suite: str, passed: bool) -> None:
        self.suites[suite].add(passed)
        self.whole.add(passed)

    @property
    def alerting(self) -> list[str]:
        """The suites whose window alerts, in the config's order."""
        return [suite for suite, window in self.suites.items() if window.alert]

    @property
    def alert(self) -> bool:
        return bool(self.alerting)

    def summary(self) -> dict:
        """The whole pool's window, with the canary's alert (any suite's; with one suite, the same as its own)."""
        return {**self.whole.summary(), "alert": self.alert, "alerting_suites": self.alerting}
