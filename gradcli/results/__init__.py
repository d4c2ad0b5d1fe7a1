"""Every result type: plain data, each with its exit code and ``to_dict()``; renderers read
them, nothing here computes or prints."""

from .grad import GradResult
from .graph import GraphEdge, GraphNode, GraphResult, TorchNode
from .matrix import MatrixResult
from .steps import Accumulation, Backward, BackwardStep, Derivation, RuleStep, StepsResult
from .verdicts import (
    NODE_BY_NODE,
    SCHEMA,
    SYMBOLIC,
    Check,
    Status,
    Verdict,
    json_number,
    json_value,
    worst,
)

__all__ = [
    "NODE_BY_NODE",
    "SCHEMA",
    "SYMBOLIC",
    "Accumulation",
    "Backward",
    "BackwardStep",
    "Check",
    "Derivation",
    "GradResult",
    "GraphEdge",
    "GraphNode",
    "GraphResult",
    "MatrixResult",
    "RuleStep",
    "Status",
    "StepsResult",
    "TorchNode",
    "Verdict",
    "json_number",
    "json_value",
    "worst",
]
