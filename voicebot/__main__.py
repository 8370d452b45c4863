"""`python -m voicebot` behaves exactly like the `voicebot` console script."""

from voicebot.cli import main

raise SystemExit(main())
