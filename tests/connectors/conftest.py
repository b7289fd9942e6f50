"""The connector tests use the session services of tests/conftest.py."""
