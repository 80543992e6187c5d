"""Benchmarks of the AdaptPose pipeline: accuracy gain, speed, memory (see README.md)."""
