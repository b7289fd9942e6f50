"""The redis connector."""
