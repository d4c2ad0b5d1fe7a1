"""``descend --output trace.csv``: every step kept, one row each, for scripts.

Columns: ``optimizer``, ``zero_grad`` (false for the run without it), ``step``, ``epoch``,
``loss``, each parameter element after the step (``w``, ``weights[0]``), each gradient element
(``d_w``) and ``grad_norm``. Numbers are written as the shortest text that reads back as the
same float64; a non-finite number is empty in CSV and TSV, null in JSON Lines.
"""

from __future__ import annotations

import csv
import io
import json
import math

from ..results.descent import DescendResult


def _number(x: float, empty: str | None) -> object:
    if math.isfinite(x):
        return repr(x) if empty is not None else x
    return empty


def render(result: DescendResult, fmt: str) -> str:
    """The trace as CSV, TSV or JSON Lines text."""
    runs = result.all_runs
    labels = list(runs[0].steps[0].after) if runs and runs[0].steps else []
    header = ["optimizer", "zero_grad", "step", "epoch", "loss", *labels]
    header += [f"d_{label}" for label in labels] + ["grad_norm"]
    records = []
    empty = None if fmt == "jsonl" else ""
    for run in runs:
        for step in run.steps:
            records.append(
                [
                    run.settings.optimizer,
                    run.zero_grad if fmt == "jsonl" else str(run.zero_grad).lower(),
                    step.step,
                    step.epoch,
                    _number(step.loss, empty),
                    *(_number(step.after[k], empty) for k in labels),
                    *(_number(step.gradient[k], empty) for k in labels),
                    _number(step.gradient_norm, empty),
                ]
            )
    if fmt == "jsonl":
        return "".join(json.dumps(dict(zip(header, r, strict=True))) + "\n" for r in records)
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(records)
    return out.getvalue()
