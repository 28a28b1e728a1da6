"""The GPU check's verdicts: one `Check` per thing a run must show, and the `Report` that collects every part's
rows, prints each as it lands and renders the summary table at the end (its rows also go into the JSON summary).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str = ""


@dataclass
class Report:
    goal_minutes: float
    rows: list[dict] = field(default_factory=list)
    speed: dict = field(default_factory=dict)
    shakespeare: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)  # each part's wall time
    started: float = field(default_factory=time.perf_counter)

    @contextlib.contextmanager
    def timed(self, part: str):
        began = time.perf_counter()
        yield
        self.seconds[part] = time.perf_counter() - began

    def add_total(self, judged: bool) -> None:
        """The wall time against its goal (judged on a GPU only: a shared CPU's wall time says little)."""
        self.seconds["total"] = time.perf_counter() - self.started
        minutes = self.seconds["total"] / 60
        status = ("OK" if minutes < self.goal_minutes else "FAIL") if judged else "INFO"
        self.add("total", "wall time", status, f"{minutes:.1f} min (goal under {self.goal_minutes:g} min): "
                 + ", ".join(f"{part} {s:.0f} s" for part, s in self.seconds.items() if part != "total"))

    def add(self, section: str, item: str, status: str, result: str) -> None:
        self.rows.append({"section": section, "item": item, "status": status, "result": result})
        print(f"[{section}] {item}: {status} {result}", flush=True)

    def add_checks(self, section: str, item: str, checks: list[Check]) -> None:
        failed = [c for c in checks if not c.passed]
        shown = failed or checks
        self.add(section, item, "FAIL" if failed else "OK", "; ".join(f"{c.name}: {c.detail}" for c in shown))

    @property
    def ok(self) -> bool:
        return all(row["status"] != "FAIL" for row in self.rows)

    def table(self) -> str:
        lines = [f"{'part':<12}{'what':<46}{'':<6}result", "-" * 120]
        lines += [f"{r['section']:<12}{r['item']:<46}{r['status']:<6}{r['result']}" for r in self.rows]
        return "\n".join(lines)
