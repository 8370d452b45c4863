"""Packaged data: start/stop chimes and the systemd user unit (see README)."""
