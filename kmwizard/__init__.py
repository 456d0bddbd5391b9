"""kmwizard: get out-of-tree kernel modules onto OpenShift nodes, KVC or KMM."""
__version__ = "0.1.0"
