"""Size limits of the expression language. Each one has its own error message (README: Limits)."""

#: characters in one expression
MAX_LENGTH = 200_000
#: nodes in the parsed tree (numbers, variables, constants, operations)
MAX_NODES = 100_000
#: open parentheses, function calls, unary signs and chained powers pending at one time
MAX_DEPTH = 200
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
