"""The engines that compute: torch autograd, SymPy's symbolic derivatives, and the proven exact
reference."""
