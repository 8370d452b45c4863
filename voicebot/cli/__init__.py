"""The command line: it parses, wires the parts together, and maps errors to exit codes.

main (the light entry point), app (the parser and dispatch), commands (the commands that talk
and listen), setup_commands (models, devices, key, config), history (`voicebot history`).
"""
