"""PyTorch golden fixtures for the recurrent layers (see README.md); load with golden.load."""
