"""Squall: real-time stream processing for Python."""
