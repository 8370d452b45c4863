"""The push-to-talk daemon: hotkeys and the control socket drive takes; takes become turns.

core (takes and turns on one event loop), recording (a take being recorded: its state, meter
and encoding loop), live_pieces (a long take's pieces sent while it is recorded).
"""
