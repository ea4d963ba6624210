"""Keywarden: AWS IAM access keys looked after from Slack."""

__version__ = "0.1.0"  # as in pyproject.toml
