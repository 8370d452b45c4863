"""A turn: speech to text, then a streamed answer, in one conversation.

assistant (a turn's steps), events (what happens in a turn, told to its observers), options
(the chat request's and the assistant's typed options), conversation (the history, trimmed to
a budget), timing (a turn's stage times, marked by observing its events), console (human text
or JSON Lines events).
"""
