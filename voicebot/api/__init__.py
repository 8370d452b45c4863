"""The HTTP client: Groq's (and any OpenAI-style server's) API, knowing nothing of audio.

client (GroqClient: speech to text, streamed chat, models), tts (text to speech), sender (the one
request path: every request is built, sent, judged and retried there), stream (a streamed chat
answer read into events), sse (what a stream's events mean), wire (request bodies and results as
pure functions), errors (statuses and exceptions as one line), error_body (servers' error bodies
read safely), connection (endpoints, timeouts, TLS, which key goes where), key_text (which keys
can be sent at all), retry (when to retry, how long to wait).
"""
