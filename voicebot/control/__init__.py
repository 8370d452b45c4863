"""The control socket: `voicebot toggle|start|stop|...` talking to a running daemon.

client (wire protocol, socket place, the fast client), server (the daemon's end).
"""
