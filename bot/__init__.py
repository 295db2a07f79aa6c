"""incident-bot: ChatOps incident response with governed remediation."""

__version__ = "0.1.0"
