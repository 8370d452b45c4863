"""Global hotkeys: combos parsed, a pure state machine, and the pynput adapter.

combo (combos as a person writes them), bindings (the `hotkeys` table checked), machine (key
events to actions, pure), listener (the pynput listener thread handing events to the loop).
"""
