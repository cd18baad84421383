"""Dock widgets of the main window: analysis, overlay controls, metadata and finding."""
