"""Where sFlow comes from: UDP sockets, and the demo agent's made-up traffic."""
