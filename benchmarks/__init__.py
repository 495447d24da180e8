"""Suites (YAML), the sweep planner, runner and executors."""
