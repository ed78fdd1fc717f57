"""The topology bench's parts: the cluster under test, the load, the rules and the report."""
