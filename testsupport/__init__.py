"""What the tests and benchmarks share but the product never ships (pyproject.toml installs no package from here)."""
