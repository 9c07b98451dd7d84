"""Offline stand-ins for released checkpoints: tiny real transformers VLM classes with random
weights and real processors (used by the tests, the benchmarks and the demo's training), and
reference implementations the fast code is checked against."""
