#!/usr/bin/env bash
# Regenerates the speech fixtures with espeak-ng and sox. The committed files are what
# the tests use (espeak-ng versions differ slightly); run this only to change them.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
say() { espeak-ng -v "$1" -s 150 -w "$tmp/$2.wav" "$3"; }
say en capital "What is the capital of France?"
say en spider "How many legs does a spider have?"
say fr bonjour "Bonjour, je voudrais un café, s'il vous plaît."
# Varied containers, rates and channel counts so audio preparation is exercised for real.
sox "$tmp/capital.wav" -r 22050 -c 1 -b 16 capital.wav                # WAV 22.05 kHz mono
sox "$tmp/spider.wav" -r 44100 -c 2 spider.flac                       # FLAC 44.1 kHz stereo
sox "$tmp/bonjour.wav" -r 48000 -c 1 -C 3 bonjour.ogg                 # Ogg Vorbis 48 kHz
sox -n -r 16000 -c 1 -b 16 silence.wav trim 0 2                       # 2 s digital silence
sox -n -r 16000 -c 1 -b 16 hiss.wav synth 2 whitenoise vol 0.002      # 2 s faint noise floor
# Sound like speech that no one can understand (capital.wav backwards): the fake answers it
# with Whisper's invented " Thank you." (no_speech_prob 0.87), as Whisper does for murmur.
sox capital.wav murmur.wav reverse
