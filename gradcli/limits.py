"""Every default and every limit of gradcli, in one place (README: Limits).

The language's size limits each have their own error message; the check's budgets say in the
result's notes when they were reached. A leaf module: anything may import it.
"""

# ---- the expression language -------------------------------------------------------------------

#: characters in one expression
MAX_LENGTH = 200_000
#: nodes in the parsed tree (numbers, variables, constants, operations)
MAX_NODES = 100_000
#: open parentheses, function calls, unary signs and chained powers pending at one time. Every
#: walk over the tree is a loop over its flat post-order (none recurses), so depth costs what
#: breadth costs and this is the node limit's number: it only bounds the parser's stack of
#: pending operators, which parentheses alone (no nodes) could otherwise grow to the length
#: limit. Measured: 39,000 nested sin (196,000 characters) computed and checked in 7 s and
#: 360 MB; 99,998 nested signs in 9.6 s.
MAX_DEPTH = 100_000
#: characters in one number literal
MAX_NUMBER_LENGTH = 100
#: absolute value of a constant exponent (``x**20000`` and ``9**9**9`` are refused)
MAX_EXPONENT = 10_000
#: levels of a power tower with variable exponents (x**x**x... ): the exact derivative grows
#: exponentially with the height (measured: 12 levels add 4 s, 20 levels over 20 s)
MAX_POWER_TOWER = 10
#: nodes that ``graph`` and ``steps`` draw: each node shows its sub-expression and local
#: derivatives, so their text grows with the square of a long chain's length
MAX_DRAWN = 2_000
#: an operand written in more characters than this is named by its node id (``cos(n12)``) in
#: the local derivatives of graph and steps, not written out: the text of every edge stays
#: short, and a 2,000-deep chain draws in linear time (written out, its edges held 20 MB)
LOCAL_OPERAND = 24

# ---- the check ---------------------------------------------------------------------------------

#: seconds for the exact check of one command (None or 0: no limit)
DEFAULT_TIMEOUT = 5.0
#: above this many variable elements the exact check is skipped (with a note)
MAX_SYMBOLIC_ELEMENTS = 10_000
#: above this many nodes, or this many levels, SymPy's whole-expression derivative is not tried
#: (measured: 800 terms, ~4,800 nodes, take 4 s; 100 nested functions 1 s, 200 over 20 s) and
#: the node-by-node reference alone checks the numbers
SYMBOLIC_NODES = 2_000
SYMBOLIC_HEIGHT = 100
#: the exact reference's first working precision, in bits; it is raised four times over until
#: every number is settled, up to :data:`PRECISION_CAP`
START_BITS = 128
#: the highest working precision, in bits (about 4,900 decimal digits): a number that cannot be
#: separated from zero there is reported as such, with the bound on its magnitude
PRECISION_CAP = 16_384
#: an exact rational larger than this (numerator or denominator, in bits) continues as a ball
MAX_EXACT_BITS = 1 << 17
#: significant bits a ball needs to be shown as settled (about 33 decimal digits)
SETTLED_BITS = 110
#: shown derivatives are written shorter when SymPy's expand (in at most EXPAND_SECONDS) or,
#: with --simplify, simplify (in at most SIMPLIFY_SECONDS each) finds a form with fewer
#: operations; derivatives of more than SHORTER_MAX_OPS operations are shown as diff gives them
EXPAND_SECONDS = 0.5
SIMPLIFY_SECONDS = 2.0
SHORTER_MAX_OPS = 400
#: the highest derivative order ``--order`` computes (each order multiplies the work)
MAX_ORDER = 10
#: a Hessian is symmetric when no |H[i][j] - H[j][i]| exceeds this times its largest entry
#: (torch's second backward passes round differently in each order)
SYMMETRY_TOLERANCE = 1e-9
#: variable elements whose derivative through an exact kink is decided direction by direction
#: (each costs a pass over the expression); past this, the rest are reported undecided
MAX_DIRECTIONAL = 256

# ---- descend -------------------------------------------------------------------------------------

#: optimizer steps in one run (each is a forward and a backward pass: about 0.1 ms for a
#: small expression, so a million take minutes)
MAX_STEPS = 1_000_000
#: data elements up to which a run's final point gets the exact check (as --max-symbolic)
MAX_CHECKED_DATA = 10_000

# ---- batch work --------------------------------------------------------------------------------

#: points in one grid, and in a product of grids (--x START:STOP:COUNT)
MAX_GRID = 10_000_000
#: columns of a batch input (a table's columns each cost memory and time in the reader:
#: measured, 100,000 columns take 3.4 s and 520 MB; 3,000,000 took 52 s and 5 GB)
MAX_COLUMNS = 100_000
#: bytes of one line (or of one CSV record, a quoted field's line ends included) of batch input:
#: the reader holds a record whole until its end arrives, so a quote that is never closed, or a
#: file with no line ends, would otherwise be gathered into memory to its last byte
MAX_RECORD_BYTES = 64 << 20
#: rows checked by ``--check sample``
DEFAULT_SAMPLE = 25
#: in sample mode, rows whose result is not finite checked in all, at most
MAX_NONFINITE_CHECKS = 100
#: in ``all`` mode, doubtful rows judged exactly per run, at most
MAX_EXACT_ROWS = 1_000
#: rows from which a batch run compiles its screen (or loads it from the cache). Measured, file
#: to file, 3 runs each: at 1,000,000 rows the same wall time either way and 0.2 s more CPU
#: compiled (numba's import); at 3,000,000 rows compiled was 0.25 s faster
COMPILE_FROM_ROWS = 2_000_000
