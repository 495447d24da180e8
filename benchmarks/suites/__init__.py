"""Built-in suites (quick, paper, full) as package data; see ivifbench.benchmarks.suite.builtin_suites."""
