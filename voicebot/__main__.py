"""`python -m voicebot` behaves exactly like the `voicebot` console script."""

from voicebot.cli.main import main

raise SystemExit(main())
