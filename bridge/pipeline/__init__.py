"""The per-datagram work: the pcap bridge, the sflowtool printer, the per-agent accounting."""
