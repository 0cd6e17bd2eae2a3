"""sflow-bridge: sFlow for the packet tools network engineers already use."""

__version__ = "0.1.0"
