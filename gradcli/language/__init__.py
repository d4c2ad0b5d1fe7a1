"""The expression language: the operation table, the lexer and parser, the tree, shapes and
the values a user gives."""
