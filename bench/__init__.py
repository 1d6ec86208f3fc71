"""Benchmarks: numbers side by side with named peers, written as JSON + Markdown under bench/results/."""
