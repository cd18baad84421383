"""DeCLIP Desktop front-end (PySide6) and case management.

This package's __init__ imports nothing from Qt, so `declip_desktop.case` and the CLI
work headless.
"""
