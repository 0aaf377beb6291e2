"""Command-line jobs behind ``ftrl <command>`` (see ftrl_ros/cli.py)."""
