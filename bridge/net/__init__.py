"""Sources and network services: pcap files, UDP sockets, the demo agent."""
