"""The Slack edge: Bolt listeners, Block Kit builders and approval handlers. Slack stops here."""
