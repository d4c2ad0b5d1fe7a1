"""The command line: the Typer app, argument parsing, the error wrapper and TAB completion."""
