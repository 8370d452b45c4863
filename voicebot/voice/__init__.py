"""Sound out: chimes and spoken answers through one speaker.

output (the one sound output: chimes mixed, speech queued), alsa_lines (alsa-lib's recovered
underrun line kept off the terminal), chime (start/stop sounds),
speakable (answer text cut into speakable pieces), speaking (answers read aloud while they
stream).
"""
