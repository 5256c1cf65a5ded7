"""rigbench: benchmark ML inference on a fleet of real devices."""

__version__ = "0.1.0"
PROTOCOL_VERSION = "v1"
