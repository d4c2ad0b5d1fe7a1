"""The check: the tolerance, the one judge, the reference strategy and the budgets."""
