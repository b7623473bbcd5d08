"""The urllib3 transport for retry-policy (being written)."""
