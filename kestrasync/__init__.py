"""kestra-sync: GitOps for Kestra flows."""

__version__ = "0.1.0"
