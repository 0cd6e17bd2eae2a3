"""The HTTP API on 8008 and its status page."""
