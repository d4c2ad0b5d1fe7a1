"""The computation graph and the chain-rule steps."""
