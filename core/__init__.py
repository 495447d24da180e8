"""ivifbench: an infrared-visible image fusion benchmark (fusion metrics + downstream tasks, one leaderboard)."""

__version__ = "0.1.0"
