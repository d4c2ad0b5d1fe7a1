"""The command line's options, each written once and shared by the commands that take it."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

# Variable values arrive as options Typer cannot know in advance (--x 2, --w1=0.5, x=2): let
# them through and sort them out in cli/arguments.py.
FREE_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


class DType(str, Enum):
    float64 = "float64"
    float32 = "float32"


class BatchFormat(str, Enum):
    csv = "csv"
    tsv = "tsv"
    jsonl = "jsonl"
    parquet = "parquet"


class BadRow(str, Enum):
    error = "error"
    skip = "skip"
    null = "null"


class GraphFormat(str, Enum):
    tree = "tree"
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


ExprAndValues = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="EXPRESSION [VALUES]",
        help='The expression, e.g. "x**2*y", and a value for each variable: --x 2, --x=2 or '
        "x=2. Options after a bare '--' are read as values or the expression.",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document (schema gradcli/1).")]
Plain = Annotated[
    bool,
    typer.Option("--plain", help="Print bare numbers: the value, then each gradient component."),
]
MatrixPlain = Annotated[
    bool,
    typer.Option("--plain", help="Print bare numbers: one matrix row per line."),
]
DTypeOpt = Annotated[DType, typer.Option("--dtype", help="Floating-point type for torch.")]
NoCheck = Annotated[
    bool, typer.Option("--no-check", help="Skip the exact check (faster; SymPy not loaded).")
]
Simplify = Annotated[
    bool,
    typer.Option(
        "--simplify",
        help="Also try SymPy's simplify on the derivatives shown (at most 2 s each; the check "
        "is the same).",
    ),
]
Debug = Annotated[
    bool,
    typer.Option(
        "--debug",
        help="Show a traceback for internal errors, and why a call did not use the warm server.",
    ),
]
IdleTimeout = Annotated[
    float | None,
    typer.Option(
        "--idle-timeout",
        metavar="SECONDS",
        min=0,
        help="Exit after this long without a call; 0 means never. [default: 1800, or "
        "$GRADCLI_SERVER_IDLE]",
        show_default=False,
    ),
]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout", metavar="SECONDS", min=0, help="Time limit for the exact check; 0 means none."
    ),
]
File = Annotated[
    str | None,
    typer.Option(
        "--file",
        "-f",
        metavar="PATH",
        help="Read the expression from a file ('-' for stdin) instead of the arguments.",
    ),
]
Vjp = Annotated[
    str | None,
    typer.Option(
        "--vjp",
        metavar="V",
        help="For a vector output: the vector v of y.backward(gradient=v), e.g. 1,1,1.",
    ),
]
MaxSymbolic = Annotated[
    int,
    typer.Option(
        "--max-symbolic",
        metavar="N",
        min=0,
        help="Skip SymPy's whole derivative when the variables have more elements.",
    ),
]
Order = Annotated[
    int,
    typer.Option(
        "--order",
        metavar="N",
        min=1,
        help="The N-th derivative with respect to one scalar variable (see --wrt).",
    ),
]
Wrt = Annotated[str | None, typer.Option("--wrt", metavar="NAME", help="The variable for --order.")]
ShowGraph = Annotated[bool, typer.Option("--graph", help="Also print the computation graph.")]
Input = Annotated[
    str | None,
    typer.Option(
        "--input",
        "-i",
        metavar="PATH",
        help="Batch: read points from a CSV, TSV, JSON Lines or Parquet file ('-' for stdin), "
        "one row per point.",
    ),
]
InputFormat = Annotated[
    BatchFormat | None,
    typer.Option(
        "--input-format",
        help="Batch: the input's format (default: from the extension; csv for stdin).",
    ),
]
Output = Annotated[
    str | None,
    typer.Option(
        "--output", "-o", metavar="PATH", help="Batch: write here instead of stdout (atomically)."
    ),
]
OutFormat = Annotated[
    BatchFormat | None,
    typer.Option(
        "--format",
        help="Batch: the output's format (default: from --output's extension, else csv).",
    ),
]
OnBadRow = Annotated[
    BadRow,
    typer.Option("--on-bad-row", help="Batch: stop at a bad row (error), skip it, or write nulls."),
]
CheckMode = Annotated[
    str,
    typer.Option(
        "--check",
        metavar="all|sample[:N]",
        autocompletion=lambda: ["all", "sample", "sample:100"],
        help="Batch: check every row (all: float64 with error bounds, doubtful rows exactly) "
        "or N random rows exactly (sample:N; sample is sample:25).",
    ),
]
GraphFormatOpt = Annotated[
    GraphFormat | None,
    typer.Option("--format", help="Output format; default: from --output's extension, else tree."),
]
GraphOutput = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write to FILE; .svg, .png or .pdf are drawn with Graphviz's dot.",
    ),
]
TorchView = Annotated[
    bool,
    typer.Option(
        "--torch",
        help="Show PyTorch's recorded graph: grad_fn nodes, next_functions, saved attributes.",
    ),
]
WrtNames = Annotated[
    str | None,
    typer.Option(
        "--wrt", metavar="NAMES", help="Derive only for these variables (comma-separated)."
    ),
]
Latex = Annotated[
    bool, typer.Option("--latex", help="Print the derivation as LaTeX (align* environment).")
]
Const = Annotated[
    list[str] | None,
    typer.Option(
        "--const",
        metavar="NAME",
        help="Hold NAME constant: a plain tensor (requires_grad=False), no gradient; may be "
        "given more than once.",
        show_default=False,
    ),
]


class Optimizer(str, Enum):
    sgd = "sgd"
    momentum = "momentum"
    nesterov = "nesterov"
    adam = "adam"
    rmsprop = "rmsprop"
    adagrad = "adagrad"


OptimizerOpt = Annotated[
    Optimizer,
    typer.Option(
        "--optimizer", help="The torch.optim optimizer (momentum and nesterov are SGD's)."
    ),
]
Lr = Annotated[float, typer.Option("--lr", metavar="RATE", help="Learning rate.")]
Steps = Annotated[
    int, typer.Option("--steps", metavar="N", min=1, help="Optimizer steps (at most 1,000,000).")
]
Every = Annotated[
    int | None,
    typer.Option(
        "--every",
        metavar="K",
        min=1,
        help="Show every K-th step (default: about 10 rows in the table, every step in JSON "
        "and --output).",
        show_default=False,
    ),
]
Tol = Annotated[
    float | None,
    typer.Option("--tol", metavar="T", help="Stop when |grad| <= T.", show_default=False),
]
LossTol = Annotated[
    float | None,
    typer.Option(
        "--loss-tol",
        metavar="T",
        help="Stop when the loss changes by at most T in a step.",
        show_default=False,
    ),
]
Momentum = Annotated[
    float | None,
    typer.Option(
        "--momentum",
        metavar="MU",
        help="momentum and nesterov: SGD's momentum (default 0.9); rmsprop: its momentum (0).",
        show_default=False,
    ),
]
Beta1 = Annotated[
    float | None,
    typer.Option("--beta1", metavar="B", help="adam: betas[0] (default 0.9).", show_default=False),
]
Beta2 = Annotated[
    float | None,
    typer.Option(
        "--beta2", metavar="B", help="adam: betas[1] (default 0.999).", show_default=False
    ),
]
Alpha = Annotated[
    float | None,
    typer.Option(
        "--alpha",
        metavar="A",
        help="rmsprop: smoothing constant (default 0.99).",
        show_default=False,
    ),
]
Eps = Annotated[
    float | None,
    typer.Option(
        "--eps",
        metavar="E",
        help="adam, rmsprop, adagrad: eps (default: torch's).",
        show_default=False,
    ),
]
WeightDecay = Annotated[
    float, typer.Option("--weight-decay", metavar="W", help="The optimizer's weight_decay.")
]
Data = Annotated[
    str | None,
    typer.Option(
        "--data",
        metavar="PATH",
        help="Bind the variables without a value to the columns of this CSV, TSV, JSON Lines "
        "or Parquet file (each a vector, one value per row).",
    ),
]
BatchSize = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        metavar="N",
        min=1,
        help="Mini-batch SGD: N rows of --data per step, shuffled each epoch (--seed).",
        show_default=False,
    ),
]
Seed = Annotated[int, typer.Option("--seed", metavar="N", min=0, help="Seed of the shuffle.")]
Compare = Annotated[
    str | None,
    typer.Option(
        "--compare",
        metavar="NAMES",
        help="Run several optimizers from the same start, e.g. sgd,momentum,adam.",
        show_default=False,
    ),
]
NoZeroGrad = Annotated[
    bool,
    typer.Option(
        "--no-zero-grad",
        help="Also run the loop without optimizer.zero_grad(), side by side: the gradients "
        "accumulate in .grad.",
    ),
]
DescendOutput = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="PATH",
        help="Write the trace (.csv, .tsv, .jsonl: every step) or the plot (.png, .svg, .pdf: "
        "needs matplotlib: pip install matplotlib).",
    ),
]
Plot = Annotated[
    bool, typer.Option("--plot", help="Also print the loss curve (and the contour) as text.")
]
Code = Annotated[bool, typer.Option("--code", help="Print the equivalent PyTorch script instead.")]
Answer = Annotated[
    str | None,
    typer.Option(
        "--answer",
        metavar="EXPR",
        help='The derivative to check, e.g. "2*x*y".',
        show_default=False,
    ),
]
Points = Annotated[
    int,
    typer.Option("--points", metavar="N", min=1, max=1000, help="Points to evaluate at, at most."),
]
NoLive = Annotated[
    bool,
    typer.Option("--no-live", help="No live plot on stderr while it runs (on a terminal)."),
]
WrtAnswer = Annotated[
    str | None,
    typer.Option(
        "--wrt", metavar="NAME", help="The variable of the derivative (needed with several)."
    ),
]
