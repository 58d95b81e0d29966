"""Conformance suites a plug-in author runs against a new implementation (see ARCHITECTURE.md)."""
