"""The command line: it parses, wires the parts together, and maps errors to exit codes.

main (the light entry point), app (the parser and dispatch), wiring (the settings become each
part's typed options: the only reader of the settings besides the parser), commands (the
commands that talk and listen), setup_commands (models, devices, key, config), history
(`voicebot history`).
"""
