"""Example configuration, manifests and reconcilers (importable as ``examples.*``)."""
