"""Captioning model families."""
