"""The microphone: PortAudio input streams handing blocks to the event loop.

microphone (the streams and the idle pre-roll), input_devices (which input, in what format),
device_names (a device chosen by index or name part, inputs and outputs alike), take (one
recording as the loop sees it), preroll (the ring kept while idle), stitch (joining the idle
stream and a take's own, sample-exactly), tail (when a take ends after the release).
"""
