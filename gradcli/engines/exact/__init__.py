"""The exact reference: numbers that say what they proved."""
