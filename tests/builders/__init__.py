"""Builders shared by the tests: stores, nightly histories, runs, job specs, wire strategies.

Test modules import shared setup from here (and fixtures from conftest), never from each
other, so a test module can be renamed or deleted without breaking another.
"""
