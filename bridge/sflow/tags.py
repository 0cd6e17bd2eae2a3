"""The numbers sFlow v5 gives its sample and record formats (enterprise << 12 | format), named.

Final ints: mypyc folds them where they are used, so a name costs nothing over the number.
"""

from __future__ import annotations

from typing import Final

SAMPLE_FLOW: Final = 1
SAMPLE_COUNTERS: Final = 2
SAMPLE_FLOW_EXPANDED: Final = 3
SAMPLE_COUNTERS_EXPANDED: Final = 4
SAMPLE_DISCARD: Final = 5
SAMPLE_RTMETRIC: Final = (4300 << 12) + 1002
SAMPLE_RTFLOW: Final = (4300 << 12) + 1003

FLOW_SAMPLED_HEADER: Final = 1  # the flow record that carries a packet's first bytes

# counter records, named as sflowtool's sflow.h names them (SFLCOUNTERS_...)
COUNTERS_GENERIC: Final = 1
COUNTERS_ETHERNET: Final = 2
COUNTERS_TOKENRING: Final = 3
COUNTERS_VG: Final = 4
COUNTERS_VLAN: Final = 5
COUNTERS_80211: Final = 6
COUNTERS_LACP: Final = 7
COUNTERS_SFP: Final = 10
COUNTERS_PFC: Final = 11
COUNTERS_PROCESSOR: Final = 1001
COUNTERS_RADIO: Final = 1002
COUNTERS_OFPORT: Final = 1004
COUNTERS_PORTNAME: Final = 1005
COUNTERS_HOST_HID: Final = 2000
COUNTERS_ADAPTORS: Final = 2001
COUNTERS_HOST_PAR: Final = 2002
COUNTERS_HOST_CPU: Final = 2003
COUNTERS_HOST_MEM: Final = 2004
COUNTERS_HOST_DSK: Final = 2005
COUNTERS_HOST_NIO: Final = 2006
COUNTERS_HOST_IP: Final = 2007
COUNTERS_HOST_ICMP: Final = 2008
COUNTERS_HOST_TCP: Final = 2009
COUNTERS_HOST_UDP: Final = 2010
COUNTERS_HOST_VRT_NODE: Final = 2100
COUNTERS_HOST_VRT_CPU: Final = 2101
COUNTERS_HOST_VRT_MEM: Final = 2102
COUNTERS_HOST_VRT_DSK: Final = 2103
COUNTERS_HOST_VRT_NIO: Final = 2104
COUNTERS_JVM: Final = 2105
COUNTERS_JMX: Final = 2106
COUNTERS_MEMCACHE: Final = 2200
COUNTERS_HTTP: Final = 2201
COUNTERS_APP: Final = 2202
COUNTERS_APP_RESOURCE: Final = 2203
COUNTERS_MEMCACHE2: Final = 2204
COUNTERS_VDI: Final = 2205
COUNTERS_APP_WORKERS: Final = 2206
COUNTERS_OVSDP: Final = 2207
COUNTERS_HOST_GPU_NVML: Final = (5703 << 12) + 1
COUNTERS_BCM_TABLES: Final = (4413 << 12) + 3
