"""Real services for connector tests: started by fixtures, on free loopback ports."""
