"""Counter records (sFlow v5 ``counter_record``).

Most counter records are a fixed list of 32- and 64-bit values: they are described
here as tables, ``"name:kind ..."`` with kind ``I`` (32 bit), ``Q`` (64 bit), ``P``
(hundredths of a percent, printed ``%.2f`` or ``unknown``) or ``F`` (a float,
printed ``%.3f``), and read in one ``unpack_from`` when the whole block is there.
Records with strings, lists or layouts that depend on the length have readers of
their own. ``COUNTER_RECORDS`` maps the tag (enterprise << 12 | format) to a reader.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from bridge.sflow import events as E
from bridge.sflow import tags as T
from bridge.sflow.reader import F32, Decoder, fmt_float

Reader = Callable[[Decoder, int, int], None]

_CODES: Final = {"I": "I", "Q": "Q", "P": "I", "F": "f"}


def _percent(v: int) -> str:
    if v == 0xFFFFFFFF:
        return "unknown"
    # C divides as float: round to single precision as it does
    q = F32.unpack(F32.pack(F32.unpack(F32.pack(v))[0] / 100.0))[0]
    return "%.2f" % q


class Table:
    """A counter block that is a plain sequence of numbers."""

    __slots__ = ("names", "kinds", "st", "plain", "block")

    def __init__(self, spec: str) -> None:
        pairs = [item.split(":") for item in spec.split()]
        self.names = tuple(n for n, _ in pairs)
        self.kinds = tuple(k for _, k in pairs)
        self.st = struct.Struct(">" + "".join(_CODES[k] for k in self.kinds))
        self.plain = all(k in "IQ" for k in self.kinds)
        self.block = E.block(self.names)

    def read(self, d: Decoder) -> tuple[int | float, ...]:
        p = d.pos
        if p + self.st.size <= d.end:
            values = self.st.unpack_from(d.buf, p)
            d.pos = p + self.st.size
            shown = values if self.plain else tuple(_show(k, v) for k, v in zip(self.kinds, values, strict=True))
            d.ev.append((E.block_under(self.block, d.prefix), shown))
            return values
        # short block: read field by field so the output stops where sflowtool's does
        out: list[int | float] = []
        for n, k in zip(self.names, self.kinds, strict=True):
            if k == "Q":
                v: int | float = d.u64()
            elif k == "F":
                v = F32.unpack(d.raw4())[0]
            else:
                v = d.u32()
            d.f(n, _show(k, v))
            out.append(v)
        return tuple(out)

    def reader(self) -> Reader:
        def read_table(d: Decoder, tag: int = 0, length: int = 0) -> None:
            self.read(d)

        return read_table


def _show(kind: str, v: int | float) -> str:
    if kind == "P":
        return _percent(int(v))
    if kind == "F":
        return fmt_float(v)
    return str(v)


GENERIC: Final = Table(
    "ifIndex:I networkType:I ifSpeed:Q ifDirection:I ifStatus:I ifInOctets:Q ifInUcastPkts:I"
    " ifInMulticastPkts:I ifInBroadcastPkts:I ifInDiscards:I ifInErrors:I ifInUnknownProtos:I"
    " ifOutOctets:Q ifOutUcastPkts:I ifOutMulticastPkts:I ifOutBroadcastPkts:I ifOutDiscards:I"
    " ifOutErrors:I ifPromiscuousMode:I"
)
ETHERNET: Final = Table(
    "dot3StatsAlignmentErrors:I dot3StatsFCSErrors:I dot3StatsSingleCollisionFrames:I"
    " dot3StatsMultipleCollisionFrames:I dot3StatsSQETestErrors:I dot3StatsDeferredTransmissions:I"
    " dot3StatsLateCollisions:I dot3StatsExcessiveCollisions:I dot3StatsInternalMacTransmitErrors:I"
    " dot3StatsCarrierSenseErrors:I dot3StatsFrameTooLongs:I dot3StatsInternalMacReceiveErrors:I"
    " dot3StatsSymbolErrors:I"
)
TOKENRING: Final = Table(
    " ".join(
        f"dot5Stats{n}:I"
        for n in [
            "LineErrors",
            "BurstErrors",
            "ACErrors",
            "AbortTransErrors",
            "InternalErrors",
            "LostFrameErrors",
            "ReceiveCongestions",
            "FrameCopiedErrors",
            "TokenErrors",
            "SoftErrors",
            "HardErrors",
            "SignalLoss",
            "TransmitBeacons",
            "Recoverys",
            "LobeWires",
            "Removes",
            "Singles",
            "FreqErrors",
        ]
    )
)
VG: Final = Table(
    "dot12InHighPriorityFrames:I dot12InHighPriorityOctets:Q dot12InNormPriorityFrames:I"
    " dot12InNormPriorityOctets:Q dot12InIPMErrors:I dot12InOversizeFrameErrors:I dot12InDataErrors:I"
    " dot12InNullAddressedFrames:I dot12OutHighPriorityFrames:I dot12OutHighPriorityOctets:Q"
    " dot12TransitionIntoTrainings:I dot12HCInHighPriorityOctets:Q dot12HCInNormPriorityOctets:Q"
    " dot12HCOutHighPriorityOctets:Q"
)
VLAN: Final = Table("in_vlan:I octets:Q ucastPkts:I multicastPkts:I broadcastPkts:I discards:I")
DOT11: Final = Table(
    " ".join(
        f"dot11{n}Count:I"
        for n in [
            "TransmittedFragment",
            "MulticastTransmittedFrame",
            "Failed",
            "Retry",
            "MultipleRetry",
            "FrameDuplicate",
            "RTSSuccess",
            "RTSFailure",
            "ACKFailure",
            "ReceivedFragment",
            "MulticastReceivedFrame",
            "FCSError",
            "TransmittedFrame",
            "WEPUndecryptable",
            "QoSDiscardedFragment",
            "AssociatedStation",
            "QoSCFPollsReceived",
            "QoSCFPollsUnused",
            "QoSCFPollsUnusable",
            "QoSCFPollsLost",
        ]
    )
)
PROCESSOR: Final = Table("5s_cpu:P 1m_cpu:P 5m_cpu:P total_memory_bytes:Q free_memory_bytes:Q")
RADIO: Final = Table("radio_elapsed_time:I radio_on_channel_time:I radio_on_channel_busy_time:I")
OVSDP: Final = Table("OVS_dp_hits:I OVS_dp_misses:I OVS_dp_lost:I OVS_dp_mask_hits:I OVS_dp_flows:I OVS_dp_masks:I")
PFC: Final = Table("PFC_requests:I PFC_indications:I PFC_pause_duration:I PFC_storm_detected:I PFC_storm_restored:I")
HOST_PARENT: Final = Table("parent_dsClass:I parent_dsIndex:I")
HOST_CPU: Final = Table(
    "cpu_load_one:F cpu_load_five:F cpu_load_fifteen:F cpu_proc_run:I cpu_proc_total:I cpu_num:I"
    " cpu_speed:I cpu_uptime:I cpu_user:I cpu_nice:I cpu_system:I cpu_idle:I cpu_wio:I cpuintr:I"
    " cpu_sintr:I cpuinterrupts:I cpu_contexts:I"
)
HOST_CPU_2014: Final = Table("cpu_steal:I cpu_guest:I cpu_guest_nice:I")
HOST_MEM: Final = Table(
    "mem_total:Q mem_free:Q mem_shared:Q mem_buffers:Q mem_cached:Q swap_total:Q swap_free:Q"
    " page_in:I page_out:I swap_in:I swap_out:I"
)
HOST_DSK: Final = Table(
    "disk_total:Q disk_free:Q disk_partition_max_used:P disk_reads:I disk_bytes_read:Q"
    " disk_read_time:I disk_writes:I disk_bytes_written:Q disk_write_time:I"
)
HOST_NIO: Final = Table(
    "nio_bytes_in:Q nio_pkts_in:I nio_errs_in:I nio_drops_in:I nio_bytes_out:Q nio_pkts_out:I"
    " nio_errs_out:I nio_drops_out:I"
)
HOST_IP: Final = Table(
    " ".join(
        f"ip{n}:I"
        for n in [
            "Forwarding",
            "DefaultTTL",
            "InReceives",
            "InHdrErrors",
            "InAddrErrors",
            "ForwDatagrams",
            "InUnknownProtos",
            "InDiscards",
            "InDelivers",
            "OutRequests",
            "OutDiscards",
            "OutNoRoutes",
            "ReasmTimeout",
            "ReasmReqds",
            "ReasmOKs",
            "ReasmFails",
            "FragOKs",
            "FragFails",
            "FragCreates",
        ]
    )
)
HOST_ICMP: Final = Table(
    " ".join(
        f"icmp{n}:I"
        for n in [
            "InMsgs",
            "InErrors",
            "InDestUnreachs",
            "InTimeExcds",
            "InParamProbs",
            "InSrcQuenchs",
            "InRedirects",
            "InEchos",
            "InEchoReps",
            "InTimestamps",
            "InAddrMasks",
            "InAddrMaskReps",
            "OutMsgs",
            "OutErrors",
            "OutDestUnreachs",
            "OutTimeExcds",
            "OutParamProbs",
            "OutSrcQuenchs",
            "OutRedirects",
            "OutEchos",
            "OutEchoReps",
            "OutTimestamps",
            "OutTimestampReps",
            "OutAddrMasks",
            "OutAddrMaskReps",
        ]
    )
)
HOST_TCP: Final = Table(
    " ".join(
        f"tcp{n}:I"
        for n in [
            "RtoAlgorithm",
            "RtoMin",
            "RtoMax",
            "MaxConn",
            "ActiveOpens",
            "PassiveOpens",
            "AttemptFails",
            "EstabResets",
            "CurrEstab",
            "InSegs",
            "OutSegs",
            "RetransSegs",
            "InErrs",
            "OutRsts",
            "InCsumErrors",
        ]
    )
)
HOST_UDP: Final = Table(
    "udpInDatagrams:I udpNoPorts:I udpInErrors:I udpOutDatagrams:I udpRcvbufErrors:I"
    " udpSndbufErrors:I udpInCsumErrors:I"
)
HOST_VNODE: Final = Table("vnode_mhz:I vnode_cpus:I vnode_memory:Q vnode_memory_free:Q vnode_num_domains:I")
HOST_VCPU: Final = Table("vcpu_state:I vcpu_cpu_mS:I vcpu_cpuCount:I")
HOST_VMEM: Final = Table("vmem_memory:Q vmem_maxMemory:Q")
HOST_VDSK: Final = Table(
    "vdsk_capacity:Q vdsk_allocation:Q vdsk_available:Q vdsk_rd_req:I vdsk_rd_bytes:Q vdsk_wr_req:I"
    " vdsk_wr_bytes:Q vdsk_errs:I"
)
HOST_VNIO: Final = Table(
    "vnio_bytes_in:Q vnio_pkts_in:I vnio_errs_in:I vnio_drops_in:I vnio_bytes_out:Q vnio_pkts_out:I"
    " vnio_errs_out:I vnio_drops_out:I"
)
GPU_NVML: Final = Table(
    "nvml_device_count:I nvml_processes:I nvml_gpu_mS:I nvml_mem_mS:I nvml_mem_bytes_total:Q"
    " nvml_mem_bytes_free:Q nvml_ecc_errors:I nvml_energy_mJ:I nvml_temperature_C:I nvml_fan_speed_pc:I"
)
BCM_TABLES: Final = Table(
    " ".join(
        f"bcm_{n}:I"
        for n in [
            "asic_host_entries",
            "host_entries_max",
            "ipv4_entries",
            "ipv4_entries_max",
            "ipv6_entries",
            "ipv6_entries_max",
            "ipv4_ipv6_entries",
            "ipv4_ipv6_entries_max",
            "long_ipv6_entries",
            "long_ipv6_entries_max",
            "total_routes",
            "total_routes_max",
            "ecmp_nexthops",
            "ecmp_nexthops_max",
            "mac_entries",
            "mac_entries_max",
            "ipv4_neighbors",
            "ipv6_neighbors",
            "ipv4_routes",
            "ipv6_routes",
            "acl_ingress_entries",
            "acl_ingress_entries_max",
            "acl_ingress_counters",
            "acl_ingress_counters_max",
            "acl_ingress_meters",
            "acl_ingress_meters_max",
            "acl_ingress_slices",
            "acl_ingress_slices_max",
            "acl_egress_entries",
            "acl_egress_entries_max",
            "acl_egress_counters",
            "acl_egress_counters_max",
            "acl_egress_meters",
            "acl_egress_meters_max",
            "acl_egress_slices",
            "acl_egress_slices_max",
        ]
    )
)
MEMCACHE: Final = Table(
    " ".join(
        f"memcache_{n}"
        for n in [
            "uptime:I",
            "rusage_user:I",
            "rusage_system:I",
            "curr_connections:I",
            "total_connections:I",
            "connection_structures:I",
            "cmd_get:I",
            "cmd_set:I",
            "cmd_flush:I",
            "get_hits:I",
            "get_misses:I",
            "delete_misses:I",
            "delete_hits:I",
            "incr_misses:I",
            "incr_hits:I",
            "decr_misses:I",
            "decr_hits:I",
            "cas_misses:I",
            "cas_hits:I",
            "cas_badval:I",
            "auth_cmds:I",
            "auth_errors:I",
            "bytes_read:Q",
            "bytes_written:Q",
            "limit_maxbytes:I",
            "accepting_conns:I",
            "listen_disabled_num:I",
            "threads:I",
            "conn_yields:I",
            "bytes:Q",
            "curr_items:I",
            "total_items:I",
            "evictions:I",
        ]
    )
)
MEMCACHE2: Final = Table(
    " ".join(
        f"memcache_{n}"
        for n in [
            "cmd_set:I",
            "cmd_touch:I",
            "cmd_flush:I",
            "get_hits:I",
            "get_misses:I",
            "delete_hits:I",
            "delete_misses:I",
            "incr_hits:I",
            "incr_misses:I",
            "decr_hits:I",
            "decr_misses:I",
            "cas_hits:I",
            "cas_misses:I",
            "cas_badval:I",
            "auth_cmds:I",
            "auth_errors:I",
            "threads:I",
            "conn_yields:I",
            "listen_disabled_num:I",
            "curr_connections:I",
            "rejected_connections:I",
            "total_connections:I",
            "connection_structures:I",
            "evictions:I",
            "reclaimed:I",
            "curr_items:I",
            "total_items:I",
            "bytes_read:Q",
            "bytes_written:Q",
            "bytes:Q",
            "limit_maxbytes:Q",
        ]
    )
)
HTTP: Final = Table(
    "http_method_option_count:I http_method_get_count:I http_method_head_count:I"
    " http_method_post_count:I http_method_put_count:I http_method_delete_count:I"
    " http_method_trace_count:I http_methd_connect_count:I http_method_other_count:I"
    " http_status_1XX_count:I http_status_2XX_count:I http_status_3XX_count:I"
    " http_status_4XX_count:I http_status_5XX_count:I http_status_other_count:I"
)
JMX: Final = Table(
    "heap_mem_initial:Q heap_mem_used:Q heap_mem_committed:Q heap_mem_max:Q non_heap_mem_initial:Q"
    " non_heap_mem_used:Q non_heap_mem_committed:Q non_heap_mem_max:Q gc_count:I gc_mS:I"
    " classes_loaded:I classes_total:I classes_unloaded:I compilation_mS:I threads_live:I"
    " threads_daemon:I threads_started:I"
)
JMX_FDS: Final = Table("fds_open:I fds_max:I")
APP: Final = Table(
    "status_OK:I errors_OTHER:I errors_TIMEOUT:I errors_INTERNAL_ERROR:I errors_BAD_REQUEST:I"
    " errors_FORBIDDEN:I errors_TOO_LARGE:I errors_NOT_IMPLEMENTED:I errors_NOT_FOUND:I"
    " errors_UNAVAILABLE:I errors_UNAUTHORIZED:I"
)
APP_RESOURCE: Final = Table(
    "user_time:I system_time:I memory_used:Q memory_max:Q files_open:I files_max:I connections_open:I connections_max:I"
)
APP_WORKERS: Final = Table("workers_active:I workers_idle:I workers_max:I requests_delayed:I requests_dropped:I")
VDI: Final = Table(
    " ".join(
        f"vdi_{n}:I"
        for n in [
            "sessions_current",
            "sessions_total",
            "sessions_duration",
            "rx_bytes",
            "tx_bytes",
            "rx_packets",
            "tx_packets",
            "rx_packets_lost",
            "tx_packets_lost",
            "rtt_min_ms",
            "rtt_max_ms",
            "rtt_avg_ms",
            "audio_rx_bytes",
            "audio_tx_bytes",
            "audio_tx_limit",
            "img_rx_bytes",
            "img_tx_bytes",
            "img_frames",
            "img_qual_min",
            "img_qual_max",
            "img_qual_avg",
            "usb_rx_bytes",
            "usb_tx_bytes",
        ]
    )
)
LACP_TAIL: Final = Table(
    "LACPDUsRx:I markerPDUsRx:I markerResponsePDUsRx:I unknownRx:I illegalRx:I LACPDUsTx:I"
    " markerPDUsTx:I markerResponsePDUsTx:I"
)


def read_generic(d: Decoder, tag: int = 0, length: int = 0) -> None:
    values = GENERIC.read(d)
    d.s.if_counters = values  # type: ignore[assignment]


def read_vlan(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.s.in_vlan = int(VLAN.read(d)[0])


def read_openflow_port(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("openflow_datapath_id", "%016x" % d.u64())
    d.n32("openflow_port")


def _opt_string(d: Decoder, buflen: int, name: str) -> None:
    n, text = d.string(buflen)
    if n > 0:
        d.f(name, text)


def read_port_name(d: Decoder, tag: int = 0, length: int = 0) -> None:
    _opt_string(d, 255, "ifName")


def read_host_descr(d: Decoder, tag: int = 0, length: int = 0) -> None:
    _opt_string(d, 64, "hostname")
    p = d.pos
    u = d.buf[p : p + 16].hex()  # printed before the bounds check, as sflowtool does
    d.f("UUID", f"{u[0:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}")
    d.skip(16)
    d.n32("machine_type")
    d.n32("os_name")
    _opt_string(d, 32, "os_release")


def read_host_adapters(d: Decoder, tag: int = 0, length: int = 0) -> None:
    """Adaptors print as nested JSON lists, but as flat adaptor_N_ fields elsewhere."""
    ev = d.ev
    pre = d.prefix
    n = d.u32()
    ev.append((E.ARR, "adaptor_list"))
    for i in range(n):
        ifindex = d.u32()
        ap = f"{pre}adaptor_{i}_"
        ev.append(E.OBJ_OPEN)
        ev.append((E.JSON_FIELD, (pre + "ifIndex", str(ifindex))))
        ev.append((E.FLAT_FIELD, (ap + "ifIndex", str(ifindex))))
        num_macs = d.u32()
        ev.append((E.JSON_FIELD, (pre + "MACs", str(num_macs))))
        ev.append((E.FLAT_FIELD, (ap + "MACs", str(num_macs))))
        ev.append((E.ARR, "mac_list"))
        for j in range(num_macs):
            if j:
                ev.append((E.JSON_ITEM, ","))  # sflowtool prints the comma before reading the MAC
            p = d.skip(8)
            mac = d.mac_at(p)
            ev.append((E.JSON_ITEM, mac))
            ev.append((E.FLAT_FIELD, (f"{ap}MAC_{j}", mac)))
        ev.append(E.ARR_CLOSE)
        ev.append(E.OBJ_CLOSE)
    ev.append(E.ARR_CLOSE)


def read_host_cpu(d: Decoder, tag: int = 0, length: int = 0) -> None:
    HOST_CPU.read(d)
    if length > 68:  # three fields added in December 2014
        HOST_CPU_2014.read(d)


def read_jvm(d: Decoder, tag: int = 0, length: int = 0) -> None:
    _opt_string(d, 64, "jvm_name")
    _opt_string(d, 32, "jvm_vendor")
    _opt_string(d, 32, "jvm_version")


def read_jmx(d: Decoder, tag: int = 0, length: int = 0) -> None:
    JMX.read(d)
    if length > 100:
        JMX_FDS.read(d)


def read_app(d: Decoder, tag: int = 0, length: int = 0) -> None:
    _opt_string(d, 32, "application")
    APP.read(d)


def read_lacp(d: Decoder, tag: int = 0, length: int = 0) -> None:
    for name in ("actorSystemID", "partnerSystemID"):
        p = d.skip(6)
        d.f(name, d.mac_at(p))
    d.n32("attachedAggID")
    state = d.raw4()  # four bytes in wire order
    d.f("actorAdminPortState", str(state[0]))
    d.f("actorOperPortState", str(state[1]))
    d.f("partnerAdminPortState", str(state[2]))
    d.f("partnerOperPortState", str(state[3]))
    LACP_TAIL.read(d)


# sflowtool leaves a literal "%u" in eight of the ten lane field names
_SFP_LANE_FIELDS: Final = (
    "index", "tx_bias_current_uA", "tx_power_uW.%u", "tx_power_min_uW.%u", "tx_power_max_uW.%u",
    "tx_wavelength_nM.%u", "rx_power_uW.%u", "rx_power_min_uW.%u", "rx_power_max_uW.%u",
    "rx_wavelength_nM.%u",
)  # fmt: skip


def read_sfp(d: Decoder, tag: int = 0, length: int = 0) -> None:
    ev = d.ev
    d.n32("sfp_module_id")
    d.n32("sfp_module_total_lanes")
    d.n32("sfp_module_supply_voltage")
    d.n32("sfp_module_temperature")
    lanes = d.u32()
    d.f("sfp_module_active_lanes", str(lanes))
    ev.append((E.ARR, "sfp_lanes"))
    pre = d.prefix
    for lane in range(lanes):
        ev.append(E.OBJ_OPEN)
        for name in _SFP_LANE_FIELDS:
            v = str(d.u32())
            ev.append((E.JSON_FIELD, (pre + name, v)))
            ev.append((f"{pre}sfp_lane_{name}.{lane}", v))
        ev.append(E.OBJ_CLOSE)
    if lanes > 0:  # with no lanes sflowtool never closes the JSON array
        ev.append(E.ARR_CLOSE)


COUNTER_RECORDS: dict[int, Reader] = {
    T.COUNTERS_GENERIC: read_generic,
    T.COUNTERS_ETHERNET: ETHERNET.reader(),
    T.COUNTERS_TOKENRING: TOKENRING.reader(),
    T.COUNTERS_VG: VG.reader(),
    T.COUNTERS_VLAN: read_vlan,
    T.COUNTERS_80211: DOT11.reader(),
    T.COUNTERS_LACP: read_lacp,
    T.COUNTERS_SFP: read_sfp,
    T.COUNTERS_PROCESSOR: PROCESSOR.reader(),
    T.COUNTERS_RADIO: RADIO.reader(),
    T.COUNTERS_OFPORT: read_openflow_port,
    T.COUNTERS_PORTNAME: read_port_name,
    T.COUNTERS_HOST_HID: read_host_descr,
    T.COUNTERS_ADAPTORS: read_host_adapters,
    T.COUNTERS_HOST_PAR: HOST_PARENT.reader(),
    T.COUNTERS_HOST_CPU: read_host_cpu,
    T.COUNTERS_HOST_MEM: HOST_MEM.reader(),
    T.COUNTERS_HOST_DSK: HOST_DSK.reader(),
    T.COUNTERS_HOST_NIO: HOST_NIO.reader(),
    T.COUNTERS_HOST_IP: HOST_IP.reader(),
    T.COUNTERS_HOST_ICMP: HOST_ICMP.reader(),
    T.COUNTERS_HOST_TCP: HOST_TCP.reader(),
    T.COUNTERS_HOST_UDP: HOST_UDP.reader(),
    T.COUNTERS_HOST_VRT_NODE: HOST_VNODE.reader(),
    T.COUNTERS_HOST_VRT_CPU: HOST_VCPU.reader(),
    T.COUNTERS_HOST_VRT_MEM: HOST_VMEM.reader(),
    T.COUNTERS_HOST_VRT_DSK: HOST_VDSK.reader(),
    T.COUNTERS_HOST_VRT_NIO: HOST_VNIO.reader(),
    T.COUNTERS_HOST_GPU_NVML: GPU_NVML.reader(),
    T.COUNTERS_BCM_TABLES: BCM_TABLES.reader(),
    T.COUNTERS_MEMCACHE: MEMCACHE.reader(),
    T.COUNTERS_MEMCACHE2: MEMCACHE2.reader(),
    T.COUNTERS_HTTP: HTTP.reader(),
    T.COUNTERS_JVM: read_jvm,
    T.COUNTERS_JMX: read_jmx,
    T.COUNTERS_APP: read_app,
    T.COUNTERS_APP_RESOURCE: APP_RESOURCE.reader(),
    T.COUNTERS_APP_WORKERS: APP_WORKERS.reader(),
    T.COUNTERS_VDI: VDI.reader(),
    T.COUNTERS_OVSDP: OVSDP.reader(),
    T.COUNTERS_PFC: PFC.reader(),
}


def read_counter_elements(d: Decoder, count: int) -> None:
    d.records(count, COUNTER_RECORDS, "counterBlock_tag", "counters_sample_element")
