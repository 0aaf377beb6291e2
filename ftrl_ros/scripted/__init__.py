"""Scripted controllers: task experts, recovery controllers and exploration noise."""
