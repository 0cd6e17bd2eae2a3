"""Where copies go: forwarding sessions, live capture streams, NetFlow export."""
