"""The hbase connector."""
