"""Shared analysis for the rules: the source tree (``project``), what names hold (``kinds``, ``scope``,
``context``), what code blocks on (``effects``), call chains (``calls``) and where requests enter (``entries``)."""
