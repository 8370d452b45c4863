"""A turn: speech to text, then a streamed answer, in one conversation.

assistant (a turn's steps), conversation (the history, trimmed to a budget), timing (a turn's
stage times), console (human text or JSON Lines events).
"""
