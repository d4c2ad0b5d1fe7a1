"""Generators for the project's own files: the README's tables and the local rules."""
