"""Torch-only attention side: kernelized attention, a small Transformer, tasks, training."""
