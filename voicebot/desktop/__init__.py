"""Dictation: where dictated text lands on the desktop.

dictation (printed, typed or put on the clipboard), keystrokes (typing into the focused
window), clipboard (copy, paste, restore), cleanup (the guarded clean-up by the chat model).
"""
