"""Readers of the recorded graph: the Graphviz renderer (graph.py) and the terminal stepper
(stepper.py). Only this package and the CLI import rich."""
