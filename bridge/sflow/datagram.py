"""Samples and datagrams: the top of the sFlow v5 (and v2/v4) structure.

``decode(data)`` turns one UDP payload into a :class:`Datagram`. It is a pure
function of its arguments. Malformed input raises :class:`DecodeError`, whose
``datagram`` attribute keeps everything decoded before the fault, because sflowtool
prints that part (its output formats are an interface people script against).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from bridge.sflow import events as E
from bridge.sflow import tags as T
from bridge.sflow.counters import COUNTER_RECORDS, GENERIC, read_counter_elements, read_vlan
from bridge.sflow.counters import ETHERNET as _ETHERNET_COUNTERS
from bridge.sflow.counters import TOKENRING as _TOKENRING_COUNTERS
from bridge.sflow.counters import VG as _VG_COUNTERS
from bridge.sflow.flow import (
    read_extended_gateway,
    read_extended_gateway_v2,
    read_extended_router,
    read_extended_switch,
    read_extended_url,
    read_extended_user,
    read_flow_elements,
    read_sampled_header,
    read_sampled_ipv4,
    read_sampled_ipv6,
)
from bridge.sflow.reader import (
    DECODE_ERROR,
    EOS,
    F32,
    F64,
    DecodeError,
    Decoder,
    Sample,
    fmt_float,
    fmt_ip4,
    fmt_ip6,
    fmt_tag,
    signed32,
)

__all__ = ["COUNTER_RECORDS", "Datagram", "DecodeError", "decode"]

# discard reason codes (sflow_drop.h); 33 and 36 are sflowtool's typos for 332 and 366
_DROP_REASONS: Final = (
    "0:net_unreachable 1:host_unreachable 2:protocol_unreachable 3:port_unreachable "
    "4:frag_needed 5:src_route_failed 6:dst_net_unknown 7:dst_host_unknown 8:src_host_isolated "
    "9:dst_net_prohibited 10:dst_host_prohibited 11:dst_net_tos_unreachable "
    "12:dst_host_tos_unreacheable 13:comm_admin_prohibited 14:host_precedence_violation "
    "15:precedence_cutoff 256:unknown 257:ttl_exceeded 258:acl 259:no_buffer_space 260:red "
    "261:traffic_shaping 262:pkt_too_big 263:src_mac_is_multicast 264:vlan_tag_mismatch "
    "265:ingress_vlan_filter 266:ingress_spanning_tree_filter 267:port_list_is_empty "
    "268:port_loopback_filter 269:blackhole_route 270:non_ip 271:uc_dip_over_mc_dmac "
    "272:dip_is_loopback_address 273:sip_is_mc 274:sip_is_loopback_address "
    "275:ip_header_corrupted 276:ipv4_sip_is_limited_bc 277:ipv6_mc_dip_reserved_scope "
    "278:ipv6_mc_dip_interface_local_scope 279:unresolved_neigh 280:mc_reverse_path_forwarding "
    "281:non_routable_packet 282:decap_error 283:overlay_smac_is_mc 284:unknown_l2 "
    "285:unknown_l3 286:unknown_l3_exception 287:unknown_buffer 288:unknown_tunnel "
    "289:unknown_l4 290:sip_is_unspecified 291:mlag_port_isolation 292:blackhole_arp_neigh "
    "293:src_mac_is_dmac 294:dmac_is_reserved 295:sip_is_class_e 296:mc_dmac_mismatch "
    "297:sip_is_dip 298:dip_is_local_network 299:dip_is_link_local 300:overlay_smac_is_dmac "
    "301:egress_vlan_filter 302:uc_reverse_path_forwarding 303:split_horizon 304:locked_port "
    "305:dmac_filter 306:blackhole_nexthop 307:vxlan_parsing 308:llc_snap_parsing "
    "309:vlan_parsing 310:pppoe_ppp_parsing 311:mpls_parsing 312:arp_parsing 313:ip_1_parsing "
    "314:ip_n_parsing 315:gre_parsing 316:udp_parsing 317:tcp_parsing 318:ipsec_parsing "
    "319:sctp_parsing 320:dccp_parsing 321:gtp_parsing 322:esp_parsing 323:unknown_parsing "
    "324:pkt_too_small 325:unhandled_proto 326:ipv6disabled 327:invalid_proto 328:ip_noproto "
    "329:skb_csum 330:skb_ucopy_fault 331:dev_ready 33:dev_hdr 333:dup_frag 334:skb_gso_seg "
    "335:reverse_path_forwarding 336:icmp_parsing 337:tcp_md5notfound 338:tcp_md5unexpected "
    "339:tcp_md5failure 340:tcp_flags 341:tcp_zerowindow 342:tcp_old_data 343:tcp_overwindow "
    "344:tcp_ofomerge 345:tcp_rfc7323_paws 346:tcp_invalid_sequence 347:tcp_reset "
    "348:tcp_invalid_syn 349:tcp_close 350:tcp_fastopen 351:tcp_old_ack 352:tcp_too_old_ack "
    "353:tcp_ack_unsent_data 354:tcp_ofo_queue_prune 355:tcp_ofo_drop 356:tcp_minttl "
    "357:ipv6_bad_exthdr 358:ipv6_ndisc_frag 359:ipv6_ndisc_hop_limit 360:ipv6_ndisc_bad_code "
    "361:ipv6_ndisc_bad_options 362:ipv6_ndisc_ns_otherhost 363:tap_filter 364:tap_txfilter "
    "365:tc_ingress 36:tc_egress 367:xdp 368:cpu_backlog 369:bpf_cgroup_egress 370:xfrm_policy "
    "371:socket_filter "
)
DROP_REASONS: dict[int, str] = {}
for _item in "".join(_DROP_REASONS).split():
    _code, _name = _item.split(":")
    DROP_REASONS.setdefault(int(_code), _name)
# the names for people (pcapng comments, the summary): 332 and 366 where sflowtool's table has the typos 33 and 36
DROP_NAMES: Final = {c: n for c, n in DROP_REASONS.items() if c not in (33, 36)} | {
    332: DROP_REASONS[33], 366: DROP_REASONS[36]}  # fmt: skip


def drop_name(reason: int) -> str:
    """A drop reason code's name, as in sflowtool's discardReason; ``reasonN`` for codes it does not know."""
    return DROP_NAMES.get(reason) or f"reason{reason}"


class Datagram:
    """One decoded sFlow datagram.

    ``events`` is the field log that sflowtool's text outputs are rendered from (see
    :mod:`bridge.sflow.events`); ``samples`` holds the per-sample state of each sample
    started, in order; the other attributes are the datagram header.
    """

    __slots__ = (
        "data", "buf", "events", "samples", "version", "agent", "sub_agent_id", "sequence",
        "uptime", "samples_in_packet", "source_ip", "read_time", "read_time_us", "pcap_time",
        "pcap_time_us", "error",
    )  # fmt: skip

    def __init__(self, d: Decoder, source_ip: str, times: tuple[int, int, int, int]) -> None:
        self.data = d.buf[: d.end]
        self.buf = d.buf
        self.events = d.ev
        self.samples = d.samples
        self.version = d.version
        self.agent = d.agent
        self.sub_agent_id = d.sub_id
        self.sequence = d.seq
        self.uptime = 0
        self.samples_in_packet = 0
        self.source_ip = source_ip
        self.read_time, self.read_time_us, self.pcap_time, self.pcap_time_us = times
        self.error: DecodeError | None = None

    @property
    def timestamp(self) -> int:
        """The time sflowtool stamps on -g lines and common-log lines."""
        return self.pcap_time or self.read_time


def decode(
    data: bytes,
    *,
    source_ip: str | None = None,
    read_time: int = 0,
    read_time_us: int = 0,
    pcap_time: int = 0,
    pcap_time_us: int = 0,
    context: bool = True,
) -> Datagram:
    """Decode one sFlow datagram.

    ``source_ip`` is the sender as text (None when unknown, as when reading a
    capture file); ``read_time`` the reception time in seconds and microseconds;
    ``pcap_time`` the capture record's time. ``context`` False leaves out the
    events only the ``-g`` output reads. Raises :class:`DecodeError`.
    """
    src = source_ip or "-"
    d = Decoder(data, src, context)
    times = (read_time, read_time_us, pcap_time, pcap_time_us)
    try:
        _read_datagram(d, times)
    except DecodeError as err:
        dg = Datagram(d, src, times)
        dg.error = err
        err.datagram = dg
        raise
    return Datagram(d, src, times)


def _read_datagram(d: Decoder, times: tuple[int, int, int, int]) -> None:
    ev = d.ev
    read_time, read_us, pcap_time, pcap_us = times
    if d.context:
        ev.append((E.CTX, ("-", 0, 0, 0, 0, 0, 0)))
    ev.append(E.SCOPE_TO_DATAGRAM)
    ev.append((_HEAD_FIELDS, (d.source_ip, d.end, read_time, read_us)))
    ev.append((E.TIME, ("localtime", read_time)))
    if pcap_time:
        ev.append((E.TIME, ("pcapTimestamp", pcap_time)))
        d.f("pcapTimestamp_uS", str(pcap_us))
    version = d.version = d.u32()
    d.f("datagramVersion", str(version))
    if version not in (2, 4, 5):
        raise d.receive_error("unexpected datagram version number\n")
    _read_agent(d)
    if version >= 5:
        d.sub_id = d.u32()
        d.ctx()
        d.f("agentSubId", str(d.sub_id))
    d.seq = d.u32()
    d.ctx()
    uptime = d.u32()
    count = d.u32()
    ev.append((_AGENT_FIELDS, (d.agent, d.seq, uptime, count)))
    ev.append(E.SCOPE_TO_SAMPLE)
    ev.append(E.ARR_SAMPLES)
    for i in range(count):
        if d.pos >= d.end:
            raise d.error(EOS, f"unexpected end of datagram after sample {i} of {signed32(count)}\n")
        s = d.s = Sample()
        d.samples.append(s)
        d.ctx()
        s.sample_type = stype = d.u32()
        d.ctx()
        ev.append(E.OBJ_OPEN)
        ev.append(E.START_SAMPLE)
        d.f("sampleType_tag", fmt_tag(stype))
        if version >= 5:
            reader = SAMPLE_READERS.get(stype)
            if reader is None:
                length = d.u32()
                d.log(f"skipping unknown sample: {fmt_tag(stype)} len={signed32(length)}\n")
                d.skip(length)
            else:
                reader(d)
        elif stype == 1:
            _read_flow_sample_v2v4(d)
        elif stype == 2:
            _read_counters_sample_v2v4(d)
        else:
            raise d.receive_error("unexpected sample type")
        ev.append(E.OBJ_CLOSE)
        ev.append(E.END_SAMPLE)
    ev.append(E.ARR_CLOSE)


def _read_agent(d: Decoder) -> None:
    # the -g context shows the address type as soon as it is read, the address once it is
    t = d.u32()
    if t == 1:
        d.agent = "0.0.0.0"
        d.ctx()
        d.agent = fmt_ip4(d.raw4())
    elif t == 2:
        d.agent = "0000:0000:0000:0000:0000:0000:0000:0000"
        d.ctx()
        p = d.skip(16)
        d.agent = fmt_ip6(d.buf[p : p + 16])
    else:
        raise d.error(EOS, f"unknown address type = {signed32(t)}\n", f"unknown agent address type {t}")
    d.ctx()


def _in_out_port(port: int, fmt: int) -> str:
    if fmt == 0:
        return str(port)
    if fmt == 1:
        return f"dropCode {port}"
    if fmt == 2:
        return f"multiple {port}"
    return f"format==3 {port}"


def _read_data_source(d: Decoder, expanded: bool) -> None:
    s = d.s
    if expanded:
        s.ds_class = d.u32()
        d.ctx()
        s.ds_index = d.u32()
    else:
        sid = d.u32()
        s.ds_class = sid >> 24
        s.ds_index = sid & 0x00FFFFFF
    d.ctx()


def _read_sample_head(d: Decoder, expanded: bool) -> tuple[int, int]:
    """Length, sequence number and data source of a flow or discard sample, field by field: (length, start)."""
    s = d.s
    length = d.u32()
    start = d.pos
    s.samples_generated = d.u32()
    _read_data_source(d, expanded)
    d.f("sampleSequenceNo", str(s.samples_generated))
    d.f("sourceId", f"{s.ds_class}:{s.ds_index}")
    return length, start


_FLOW_COMPACT: Final = struct.Struct(">8I")
_FLOW_FIELDS: Final = E.block(
    ("sampleSequenceNo", "sourceId", "meanSkipCount", "samplePool", "dropEvents", "inputPort", "outputPort")
)
_HEAD_FIELDS: Final = E.block(("datagramSourceIP", "datagramSize", "unixSecondsUTC", "unixSecondsUTC_uS"))
_AGENT_FIELDS: Final = E.block(("agent", "packetSequenceNo", "sysUpTime", "samplesInPacket"))
_FLOW_EXPANDED: Final = struct.Struct(">11I")


def _read_flow_sample(d: Decoder, expanded: bool) -> None:
    s = d.s
    ev = d.ev
    d.f("sampleType", "FLOWSAMPLE")
    p = d.pos
    if p + 44 <= d.end:
        # the fixed part is all there, so none of its reads can fail: read it at once
        if expanded:
            values = _FLOW_EXPANDED.unpack_from(d.buf, p)
            (length, s.samples_generated, s.ds_class, s.ds_index, s.mean_skip_count, s.sample_pool, s.drop_events,
             s.input_port_format, s.input_port, s.output_port_format, s.output_port) = values  # fmt: skip
            d.pos = p + 44
        else:
            length, s.samples_generated, sid, s.mean_skip_count, s.sample_pool, s.drop_events, inp, outp = (
                _FLOW_COMPACT.unpack_from(d.buf, p)
            )
            d.pos = p + 32
            s.ds_class = sid >> 24
            s.ds_index = sid & 0x00FFFFFF
            s.input_port_format = inp >> 30
            s.output_port_format = outp >> 30
            s.input_port = inp & 0x3FFFFFFF
            s.output_port = outp & 0x3FFFFFFF
        start = p + 4
        d.ctx()
        values = (
            s.samples_generated,
            f"{s.ds_class}:{s.ds_index}",
            s.mean_skip_count,
            s.sample_pool,
            s.drop_events,
            s.input_port if not s.input_port_format else _in_out_port(s.input_port, s.input_port_format),
            s.output_port if not s.output_port_format else _in_out_port(s.output_port, s.output_port_format),
        )
        ev.append((_FLOW_FIELDS, values))
    else:
        # field by field, so that a short sample stops exactly where sflowtool's output does
        length, start = _read_sample_head(d, expanded)
        s.mean_skip_count = d.u32()
        s.sample_pool = d.u32()
        s.drop_events = d.u32()
        d.f("meanSkipCount", str(s.mean_skip_count))
        d.f("samplePool", str(s.sample_pool))
        d.f("dropEvents", str(s.drop_events))
        if expanded:
            s.input_port_format = d.u32()
            s.input_port = d.u32()
            s.output_port_format = d.u32()
            s.output_port = d.u32()
        else:
            inp = d.u32()
            outp = d.u32()
            s.input_port_format = inp >> 30
            s.output_port_format = outp >> 30
            s.input_port = inp & 0x3FFFFFFF
            s.output_port = outp & 0x3FFFFFFF
        d.f("inputPort", _in_out_port(s.input_port, s.input_port_format))
        d.f("outputPort", _in_out_port(s.output_port, s.output_port_format))
    ev.append(E.ARR_ELEMENTS)
    read_flow_elements(d)
    d.length_check("flow_sample", start, length)
    ev.append(E.ARR_CLOSE)
    ev.append((E.DONE, (E.DONE_FLOW, s)))


def _read_counters_sample(d: Decoder, expanded: bool) -> None:
    s = d.s
    ev = d.ev
    d.f("sampleType", "COUNTERSSAMPLE")
    length = d.u32()
    start = d.pos
    s.samples_generated = d.u32()
    d.f("sampleSequenceNo", str(s.samples_generated))
    _read_data_source(d, expanded)
    d.f("sourceId", f"{s.ds_class}:{s.ds_index}")
    count = d.u32()
    ev.append(E.ARR_ELEMENTS)
    read_counter_elements(d, count)
    d.length_check("counters_sample", start, length)
    ev.append(E.ARR_CLOSE)
    ev.append((E.DONE, (E.DONE_COUNTERS, s)))


def _read_discard_sample(d: Decoder) -> None:
    s = d.s
    ev = d.ev
    d.f("sampleType", "DISCARD")
    length, start = _read_sample_head(d, True)
    s.drop_events = d.u32()
    d.f("dropEvents", str(s.drop_events))
    s.input_port = d.u32()
    s.output_port = d.u32()
    # no format bits here: the port formats stay 0 and the raw values print
    d.f("inputPort", str(s.input_port))
    d.f("outputPort", str(s.output_port))
    code = d.u32()
    d.f("discardCode", str(code))
    d.f("discardReason", DROP_REASONS.get(code, "NotFound"))
    ev.append(E.ARR_ELEMENTS)
    d.prefix = "discarded_"
    try:
        read_flow_elements(d)
    finally:
        d.prefix = ""
    d.length_check("discard_sample", start, length)
    ev.append(E.ARR_CLOSE)
    ev.append((E.DONE, (E.DONE_DISCARD, s)))


# rtmetric / rtflow value types: (field prefix, reader)
def _rt_string(d: Decoder) -> str:
    return d.string(255)[1]


def _rt_u32(d: Decoder) -> str:
    return str(d.u32())


def _rt_u64(d: Decoder) -> str:
    return str(d.u64())


def _rt_float(d: Decoder) -> str:
    return fmt_float(F32.unpack(d.raw4())[0])


def _rt_double(d: Decoder) -> str:
    hi = d.raw4()
    lo = d.raw4()
    return fmt_float(F64.unpack(hi + lo)[0])


def _rt_mac(d: Decoder) -> str:
    return d.mac_at(d.skip(6))


def _rt_ip(d: Decoder) -> str:
    return fmt_ip4(d.raw4())


def _rt_ip6(d: Decoder) -> str:
    p = d.skip(16)
    return fmt_ip6(d.buf[p : p + 16])


_RTMETRIC_TYPES: tuple[tuple[str, Callable[[Decoder], str]], ...] = (
    ("rtmetric_string_", _rt_string),
    ("rtmetric_counter32_", _rt_u32),
    ("rtmetric_counter64_", _rt_u64),
    ("rtmetric_gauge32_", _rt_u32),
    ("rtmetric_gauge64_", _rt_u64),
    ("rtmetric_gaugeFloat_", _rt_float),
    ("rtmetric_gaugeDouble_", _rt_double),
)
_RTFLOW_TYPES: tuple[tuple[str, Callable[[Decoder], str]], ...] = (
    ("rtflow_string_", _rt_string),
    ("rtflow_mac_", _rt_mac),
    ("rtflow_ip_", _rt_ip),
    ("rtflow_ip6_", _rt_ip6),
    ("rtflow_int32_", _rt_u32),
    ("rtflow_int64_", _rt_u64),
    ("rtflow_float_", _rt_float),
    ("rtflow_double_", _rt_double),
)


def _read_rt_values(d: Decoder, what: str, types: tuple[tuple[str, Callable[[Decoder], str]], ...]) -> None:
    count = d.u32()
    for _ in range(count):
        name = d.string(64)[1]
        vtype = d.u32()
        if vtype >= len(types):
            d.log(f"{what} unknown_type {vtype}\n")
            raise d.error(DECODE_ERROR, "", f"{what} value of unknown type {vtype}")
        prefix, reader = types[vtype]
        d.f(prefix + name, reader(d))


def _read_rtmetric(d: Decoder) -> None:
    d.f("sampleType", "RTMETRIC")
    length = d.u32()
    start = d.pos
    n, name = d.string(64)
    if n > 0:
        d.f("rtmetric_datasource_name", name)
    _read_rt_values(d, "rtmetric", _RTMETRIC_TYPES)
    d.ev.append((E.DONE, (E.DONE_RT, d.s)))  # sflowtool writes the -L line before its length check
    d.length_check("rtmetric_sample", start, length)


def _read_rtflow(d: Decoder) -> None:
    d.f("sampleType", "RTFLOW")
    length = d.u32()
    start = d.pos
    n, name = d.string(64)
    if n > 0:
        d.f("rtflow_datasource_name", name)
    d.n32("rtflow_sampling_rate")
    d.n32("rtflow_sample_pool")
    _read_rt_values(d, "rtflow", _RTFLOW_TYPES)
    d.length_check("rtflow_sample", start, length)
    d.ev.append((E.DONE, (E.DONE_RT, d.s)))


SAMPLE_READERS: dict[int, Callable[[Decoder], None]] = {
    T.SAMPLE_FLOW: lambda d: _read_flow_sample(d, False),
    T.SAMPLE_COUNTERS: lambda d: _read_counters_sample(d, False),
    T.SAMPLE_FLOW_EXPANDED: lambda d: _read_flow_sample(d, True),
    T.SAMPLE_COUNTERS_EXPANDED: lambda d: _read_counters_sample(d, True),
    T.SAMPLE_DISCARD: _read_discard_sample,
    T.SAMPLE_RTMETRIC: _read_rtmetric,
    T.SAMPLE_RTFLOW: _read_rtflow,
}


# ---- sFlow v2 and v4


def _read_flow_sample_v2v4(d: Decoder) -> None:
    s = d.s
    ev = d.ev
    d.f("sampleType", "FLOWSAMPLE")
    s.samples_generated = d.u32()
    d.f("sampleSequenceNo", str(s.samples_generated))
    _read_data_source(d, False)
    d.f("sourceId", f"{s.ds_class}:{s.ds_index}")
    s.mean_skip_count = d.u32()
    s.sample_pool = d.u32()
    s.drop_events = d.u32()
    s.input_port = d.u32()
    s.output_port = d.u32()
    d.f("meanSkipCount", str(s.mean_skip_count))
    d.f("samplePool", str(s.sample_pool))
    d.f("dropEvents", str(s.drop_events))
    d.f("inputPort", str(s.input_port))
    out = s.output_port
    if out & 0x80000000:
        n = out & 0x7FFFFFFF
        d.f("outputPort", f"multiple {signed32(n)}" if n else "multiple >1")
    else:
        d.f("outputPort", str(out))
    s.packet_data_tag = tag = d.u32()
    ev.append(E.ARR_ELEMENTS)
    ev.append(E.OBJ_OPEN)
    if tag == 1:
        read_sampled_header(d)
    elif tag == 2:
        read_sampled_ipv4(d, "")
    elif tag == 3:
        read_sampled_ipv6(d, "")
    else:
        raise d.receive_error("unexpected packet_data_tag")
    ev.append(E.OBJ_CLOSE)
    s.extended_data_tag = 0
    s.num_extended = d.u32()
    for _ in range(s.num_extended):
        ev.append(E.OBJ_OPEN)
        ext = d.u32()
        if ext == 1:
            read_extended_switch(d)
        elif ext == 2:
            read_extended_router(d)
        elif ext == 3:
            if d.version == 2:
                read_extended_gateway_v2(d)
            else:
                read_extended_gateway(d)
        elif ext == 4:
            read_extended_user(d)
        elif ext == 5:
            read_extended_url(d)
        else:
            raise d.receive_error("unrecognized extended data tag")
        ev.append(E.OBJ_CLOSE)
    ev.append(E.ARR_CLOSE)
    ev.append((E.DONE, (E.DONE_FLOW_V2V4, s)))


def _read_counters_sample_v2v4(d: Decoder) -> None:
    s = d.s
    ev = d.ev
    d.f("sampleType", "COUNTERSSAMPLE")
    s.samples_generated = d.u32()
    d.f("sampleSequenceNo", str(s.samples_generated))
    _read_data_source(d, False)
    d.f("sourceId", f"{s.ds_class}:{s.ds_index}")
    s.stats_sampling_interval = d.u32()
    d.f("statsSamplingInterval", str(s.stats_sampling_interval))
    version = s.counter_block_version = d.u32()
    d.f("counterBlockVersion", str(version))
    ev.append(E.ARR_ELEMENTS)
    ev.append(E.OBJ_OPEN)
    if 1 <= version <= 6:
        s.if_counters = GENERIC.read(d)  # type: ignore[assignment]
    elif version != 7:
        raise d.receive_error("unknown stats version")
    ev.append(E.OBJ_CLOSE)
    ev.append(E.OBJ_OPEN)
    if version == 2:
        _ETHERNET_COUNTERS.read(d)
    elif version == 3:
        _TOKENRING_COUNTERS.read(d)
    elif version == 5:
        _VG_COUNTERS.read(d)
    elif version == 7:
        read_vlan(d)
    ev.append(E.OBJ_CLOSE)
    ev.append(E.ARR_CLOSE)
    ev.append((E.DONE, (E.DONE_COUNTERS, s)))
