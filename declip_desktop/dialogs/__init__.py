"""Dialogs of the desktop app: about, new case, model manager, trainer."""
