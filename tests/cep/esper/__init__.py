"""Differential tests against real Esper (a package so its conftest gets a unique module name)."""
