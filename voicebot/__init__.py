"""voicebot: push-to-talk voice assistant on Groq's speech-to-text and chat APIs."""

__version__ = "0.1.0"
