"""Gradients at many points: the run, the check's helper processes, and the file formats."""
