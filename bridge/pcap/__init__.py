"""The pcap file formats: reading libpcap files, writing libpcap and pcapng, compiling BPF capture filters."""
