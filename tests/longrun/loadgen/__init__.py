"""Tests of the load generator: clients, runner, figures, process sampling."""
