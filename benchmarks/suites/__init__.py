"""Built-in suites (quick, paper, full) as package data; see ivifbench.config.builtin_suites."""
