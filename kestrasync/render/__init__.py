"""Renderers: pure functions from a Plan or an ApplyReport to text. Nothing here prints.

`text` is for terminals (colour optional), `json` is the versioned machine form (shared with saved
plan files), `markdown` is for pull-request comments. All render the same values.
"""
