"""Readers of the recorded graph: the Graphviz renderer (graph.py, with scene.py: what goes
where) and the terminal stepper (stepper.py, with walk.py: the walk it records, read without
rich). Only this package and the CLI import rich."""
