"""Audio processing as pure functions over samples and files: no devices, no HTTP.

samples (conversions, resampling, levels: the silence guard), encoding (Opus/FLAC written as
samples arrive), files (audio files prepared for upload), chunking (long audio cut at pauses),
pieces (a long take cut at pauses while it is recorded), wav_stream (WAV read while it streams).
"""
