"""Developer tools that measure the code rather than use it: `benchmarks.benchmark` times a model's
training step and conversion (speed, FLOPs, utilisation, memory) against the goals in
docs/performance.md. Not a user tool: scripts/ holds those.

    python benchmarks/benchmark.py --model au_gan --crop_size 128 --steps 10
    python -m benchmarks.benchmark --model au_gan --crop_size 128 --steps 10   # the same

Layering: this package uses util/, data/, models/, inference/, metrics/ and options/; nothing but
tests/ imports it. tests/test_layers.py checks that.
"""
