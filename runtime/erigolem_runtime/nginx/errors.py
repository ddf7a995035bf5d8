"""The nginx front's error."""

from __future__ import annotations


class NginxError(Exception):
    """nginx rejected a change or could not be (re)started; the message carries nginx's words."""
