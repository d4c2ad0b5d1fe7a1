"""Every result type: plain data, each with its exit code and ``to_dict()``."""
