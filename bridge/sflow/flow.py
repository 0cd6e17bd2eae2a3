"""Flow sample records (sFlow v5 ``flow_record``), also found inside discard samples.

One reader per record, named after the record's sflowtool label; ``FLOW_RECORDS``
maps the record tag (enterprise << 12 | format) to its reader. To add a record:
write ``def read_x(d, tag, length)`` and register it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Final

from bridge.sflow import events as E
from bridge.sflow import sampled_header as hdr
from bridge.sflow.reader import Decoder, SFStr, fmt_ip4, fmt_ip6, hex_upper_dash, signed32

Reader = Callable[[Decoder, int, int], None]

_SAMPLED_IPV4: Final = struct.Struct(">II4s4sIIII")
_SAMPLED_IPV6: Final = struct.Struct(">II16s16sIIII")

# header protocols sflowtool names but does not decode
_NO_DECODE: Final = frozenset((2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 16, 17, 18))

HTTP_METHODS: Final = ("-", "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT")
APP_STATUS: Final = (
    "SUCCESS", "OTHER", "TIMEOUT", "INTERNAL_ERROR", "BAD_REQUEST", "FORBIDDEN",
    "TOO_LARGE", "NOT_IMPLEMENTED", "NOT_FOUND", "UNAVAILABLE", "UNATHORIZED",
)  # fmt: skip


_HEADER_V5: Final = struct.Struct(">IIII")
_HEADER_BLOCK: Final = E.block(("headerProtocol", "sampledPacketSize", "strippedBytes", "headerLen"))
_SWITCH: Final = struct.Struct(">IIII")
_SWITCH_BLOCK: Final = E.block(("extendedType", "in_vlan", "in_priority", "out_vlan", "out_priority"))


def read_sampled_header(d: Decoder, tag: int = 0, length: int = 0) -> None:
    s = d.s
    ev = d.ev
    pre = d.prefix
    ev.append((pre + "flowSampleType", "HEADER"))
    p = d.pos
    if d.version > 4 and p + 16 <= d.end:
        s.header_protocol, s.sampled_packet_size, s.stripped, s.header_len = _HEADER_V5.unpack_from(d.buf, p)
        d.pos = p + 16
        ev.append(
            (E.block_under(_HEADER_BLOCK, pre), (s.header_protocol, s.sampled_packet_size, s.stripped, s.header_len))
        )
    else:
        s.header_protocol = d.u32()
        d.f("headerProtocol", str(s.header_protocol))
        s.sampled_packet_size = d.u32()
        d.f("sampledPacketSize", str(s.sampled_packet_size))
        if d.version > 4:
            s.stripped = d.u32()
            d.f("strippedBytes", str(s.stripped))
        s.header_len = d.u32()
        d.f("headerLen", str(s.header_len))
    s.header_off = d.pos
    d.skip(s.header_len)
    ev.append((pre + "headerBytes", hex_upper_dash(d.buf[s.header_off : s.header_off + s.header_len])))
    proto = s.header_protocol
    if proto == 1:
        hdr.decode_link_layer(d, s)
    elif proto == 11:
        s.got_ipv4 = True
        s.offset_to_ipv4 = 0
    elif proto == 12:
        s.got_ipv6 = True
        s.offset_to_ipv6 = 0
    elif proto == 15:
        hdr.decode_80211_mac(d, s)
    elif proto in _NO_DECODE:
        d.log(f"NO_DECODE headerProtocol={signed32(proto)}\n")
    else:
        d.log(f"UNKNOWN headerProtocol={signed32(proto)}\n")
    if s.got_ipv4:
        d.f("IPSize", str(signed32(s.sampled_packet_size - s.stripped - s.offset_to_ipv4)))
        hdr.decode_ipv4(d, s)
    elif s.got_ipv6:
        d.f("IPSize", str(signed32(s.sampled_packet_size - s.stripped - s.offset_to_ipv6)))
        hdr.decode_ipv6(d, s)


def read_sampled_ethernet(d: Decoder, prefix: str = "") -> None:
    s = d.s
    d.f("flowSampleType", prefix + "ETHERNET")
    s.eth_len = d.u32()
    p = d.skip(6)
    s.eth_src = d.buf[p : p + 6]
    p = d.skip(6)
    s.eth_dst = d.buf[p : p + 6]
    s.eth_type = d.u32()
    outer = d.prefix
    d.prefix = outer + prefix
    d.f("ethernet_type", str(s.eth_type))
    d.f("ethernet_len", str(s.eth_len))
    d.f("ethernet_src", s.eth_src.hex())
    d.f("ethernet_dst", s.eth_dst.hex())
    d.prefix = outer


def _ports_by_protocol(d: Decoder, length: int, proto: int, sport: int, dport: int, flags: int) -> None:
    s = d.s
    s.sport = sport
    s.dport = dport
    if proto == 1:
        d.f("ICMPType", str(dport))
    elif proto == 6:
        d.f("TCPSrcPort", str(sport))
        d.f("TCPDstPort", str(dport))
        s.tcp_flags = flags
        d.f("TCPFlags", str(flags))
    elif proto == 17:
        d.f("UDPSrcPort", str(sport))
        d.f("UDPDstPort", str(dport))


def read_sampled_ipv4(d: Decoder, prefix: str = "") -> None:
    s = d.s
    d.f("flowSampleType", prefix + "IPV4")
    s.header_len = 32
    s.header_off = p = d.pos
    d.skip(32)
    outer = d.prefix
    d.prefix = outer + prefix
    length, proto, src, dst, sport, dport, flags, tos = _SAMPLED_IPV4.unpack_from(d.buf, p)
    s.sampled_packet_size = length
    d.f("sampledPacketSize", str(length))
    d.f("IPSize", str(length))
    s.ipsrc = fmt_ip4(src)
    s.ipdst = fmt_ip4(dst)
    s.ip_protocol = proto
    s.ip_tos = tos
    d.f("srcIP", s.ipsrc)
    d.f("dstIP", s.ipdst)
    d.f("IPProtocol", str(proto))
    d.f("IPTOS", str(tos))
    _ports_by_protocol(d, length, proto, sport, dport, flags)
    d.prefix = outer
    s.got_ipv4_struct = True


def read_sampled_ipv6(d: Decoder, prefix: str = "") -> None:
    s = d.s
    d.f("flowSampleType", prefix + "IPV6")
    s.header_off = p = d.pos
    s.header_len = 56
    d.skip(56)
    outer = d.prefix
    d.prefix = outer + prefix
    length, proto, src, dst, sport, dport, flags, priority = _SAMPLED_IPV6.unpack_from(d.buf, p)
    s.sampled_packet_size = length
    d.f("sampledPacketSize", str(length))
    d.f("IPSize", str(length))
    s.ipsrc = fmt_ip6(src)
    s.ipdst = fmt_ip6(dst)
    s.ip_protocol = proto
    d.f("srcIP6", s.ipsrc)
    d.f("dstIP6", s.ipdst)
    d.f("IPProtocol", str(proto))
    d.f("priority", str(priority))
    _ports_by_protocol(d, length, proto, sport, dport, flags)
    d.prefix = outer
    s.got_ipv6_struct = True


def read_extended_switch(d: Decoder, tag: int = 0, length: int = 0) -> None:
    s = d.s
    p = d.pos
    if p + 16 <= d.end:
        s.in_vlan, s.in_priority, s.out_vlan, s.out_priority = v = _SWITCH.unpack_from(d.buf, p)
        d.pos = p + 16
        s.extended_data_tag |= 1
        d.ev.append((E.block_under(_SWITCH_BLOCK, d.prefix), ("SWITCH", *v)))
        return
    d.f("extendedType", "SWITCH")
    s.in_vlan = d.u32()
    s.in_priority = d.u32()
    s.out_vlan = d.u32()
    s.out_priority = d.u32()
    s.extended_data_tag |= 1
    d.f("in_vlan", str(s.in_vlan))
    d.f("in_priority", str(s.in_priority))
    d.f("out_vlan", str(s.out_vlan))
    d.f("out_priority", str(s.out_priority))


def read_extended_router(d: Decoder, tag: int = 0, length: int = 0) -> None:
    s = d.s
    d.f("extendedType", "ROUTER")
    s.next_hop = d.address()
    s.src_mask = d.u32()
    s.dst_mask = d.u32()
    s.extended_data_tag |= 4
    d.f("nextHop", s.next_hop)
    d.f("srcSubnetMask", str(s.src_mask))
    d.f("dstSubnetMask", str(s.dst_mask))


def _words(d: Decoder, count: int) -> list[int]:
    """``count`` 32-bit words after skipBytes(count * 4), which wraps at 32 bits in C."""
    p = d.skip(count * 4)
    if count * 4 > d.end - p:
        # the wrapped length passed sflowtool's check; it would now walk off its buffer
        raise d.error(1, "", f"array of {count} words runs past the end of the datagram")
    return list(struct.unpack_from(f">{count}I", d.buf, p))


def read_extended_gateway_v2(d: Decoder) -> None:
    s = d.s
    d.f("extendedType", "GATEWAY")
    s.my_as = d.u32()
    s.src_as = d.u32()
    s.src_peer_as = d.u32()
    s.dst_peer_as = 0
    s.dst_as = 0
    path_len = d.u32()
    path: list[int] = []
    if path_len > 0:
        path = _words(d, path_len)
        s.dst_peer_as = path[0]
        s.dst_as = path[-1]
    s.extended_data_tag |= 8
    d.f("my_as", str(s.my_as))
    d.f("src_as", str(s.src_as))
    d.f("src_peer_as", str(s.src_peer_as))
    d.f("dst_as", str(s.dst_as))
    d.f("dst_peer_as", str(s.dst_peer_as))
    d.f("dst_as_path_len", str(path_len))
    if path_len > 0:
        sb = SFStr()
        sb.append_array32(path, "-")
        d.f("dst_as_path", sb.s)


def read_extended_gateway(d: Decoder, tag: int = 0, length: int = 0) -> None:
    s = d.s
    d.f("extendedType", "GATEWAY")
    if d.version >= 5:
        s.bgp_next_hop = d.address()
        d.f("bgp_nexthop", s.bgp_next_hop)
    s.my_as = d.u32()
    s.src_as = d.u32()
    s.src_peer_as = d.u32()
    d.f("my_as", str(s.my_as))
    d.f("src_as", str(s.src_as))
    d.f("src_peer_as", str(s.src_peer_as))
    segments = d.u32()
    s.dst_peer_as = 0
    s.dst_as = 0
    if segments > 0:
        path = SFStr()
        for seg in range(segments):
            seg_type = d.u32()
            seg_len = d.u32()
            if seg_len > 0:
                asns = _words(d, seg_len)
                if seg == 0:
                    s.dst_peer_as = asns[0]
                if seg_type == 1:  # AS_SET
                    path.append("(")
                path.append_array32(asns, "-")  # segments run together: sflowtool prints no separator
                if seg_type == 1:
                    path.append(")")
                if seg == segments - 1:
                    s.dst_as = asns[-1]
        d.f("dst_as_path", path.s)
    d.f("dst_as", str(s.dst_as))
    d.f("dst_peer_as", str(s.dst_peer_as))
    communities_len = d.u32()
    communities = _words(d, communities_len)
    s.extended_data_tag |= 8
    if communities_len > 0:
        sb = SFStr()
        sb.append_array32(communities, "-")
        d.f("BGP_communities", sb.s)
    s.localpref = d.u32()
    d.f("BGP_localpref", str(s.localpref))


def read_extended_user(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "USER")
    if d.version >= 5:
        d.n32("src_user_charset")
    _, src_user = d.string(200)
    if d.version >= 5:
        d.n32("dst_user_charset")
    _, dst_user = d.string(200)
    d.s.extended_data_tag |= 16
    d.f("src_user", src_user)
    d.f("dst_user", dst_user)


def read_extended_url(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "URL")
    d.n32("url_direction")
    d.f("url", d.string(200)[1])
    if d.version >= 5:
        d.f("host", d.string(200)[1])
    d.s.extended_data_tag |= 32


def _label_stack(d: Decoder, name: str) -> None:
    depth = d.u32()
    labels = _words(d, depth)
    if depth > 0:
        sb = SFStr()
        for j, lab in enumerate(labels):
            if j:
                sb.append("-")
            sb.append_array32((lab >> 12, (lab >> 9) & 7, (lab >> 8) & 1, lab & 255), ".")
        d.f(name, sb.s)


def read_extended_mpls(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "MPLS")
    d.f("mpls_nexthop", d.address())
    _label_stack(d, "mpls_input_stack")
    _label_stack(d, "mpls_output_stack")
    d.s.extended_data_tag |= 64


def read_extended_nat(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "NAT")
    d.f("nat_src", d.address())
    d.f("nat_dst", d.address())
    d.s.extended_data_tag |= 128


def read_extended_nat_port(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "NAT PORT")
    d.n32("nat_src_port")
    d.n32("nat_dst_port")


def read_extended_mpls_tunnel(d: Decoder, tag: int = 0, length: int = 0) -> None:
    _opt_string(d, 100, "mpls_tunnel_lsp_name")
    d.n32("mpls_tunnel_id")
    d.n32("mpls_tunnel_cos")
    d.s.extended_data_tag |= 256


def read_extended_mpls_vc(d: Decoder, tag: int = 0, length: int = 0) -> None:
    _opt_string(d, 100, "mpls_vc_name")
    d.n32("mpls_vll_vc_id")
    d.n32("mpls_vc_cos")
    d.s.extended_data_tag |= 512


def read_extended_mpls_ftn(d: Decoder, tag: int = 0, length: int = 0) -> None:
    _opt_string(d, 100, "mpls_ftn_descr")
    d.n32("mpls_ftn_mask")
    d.s.extended_data_tag |= 1024


def read_extended_mpls_ldp_fec(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.n32("mpls_fec_addr_prefix_len")
    d.s.extended_data_tag |= 2048


def read_extended_vlan_tunnel(d: Decoder, tag: int = 0, length: int = 0) -> None:
    depth = d.u32()
    entries = _words(d, depth)
    if depth > 0:
        sb = SFStr()
        for j, lab in enumerate(entries):
            if j:
                sb.append("-")
            sb.append("0x%02x%02x" % (lab >> 24, (lab >> 16) & 255))
            sb.append_array32(((lab >> 13) & 7, (lab >> 12) & 1, lab & 4095), ".")
        d.f("vlan_tunnel", sb.s)
    d.s.extended_data_tag |= 4096


def read_extended_80211_payload(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.n32("cipher_suite")
    read_sampled_header(d)


def _wifi_ssid_bssid(d: Decoder, which: str) -> None:
    _opt_string(d, 256, which + "_SSID")
    p = d.skip(6)
    d.f(which + "_BSSID", d.mac_at(p))


def read_extended_80211_rx(d: Decoder, tag: int = 0, length: int = 0) -> None:
    _wifi_ssid_bssid(d, "rx")
    d.n32("rx_version")
    d.n32("rx_channel")
    d.n64("rx_speed")
    d.n32("rx_rsni")
    d.n32("rx_rcpi")
    d.n32("rx_packet_uS")


def read_extended_80211_tx(d: Decoder, tag: int = 0, length: int = 0) -> None:
    _wifi_ssid_bssid(d, "tx")
    d.n32("tx_version")
    d.n32("tx_transmissions")
    d.n32("tx_packet_uS")
    d.n32("tx_retrans_uS")
    d.n32("tx_channel")
    d.n64("tx_speed")
    d.n32("tx_power_mW")


def read_memcache(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("flowSampleType", "memcache")
    d.n32("memcache_op_protocol")
    d.n32("memcache_op_cmd")
    n, key = d.string(255)
    if n > 0:
        d.f("memcache_op_key", url_encode(key))
    d.n32("memcache_op_nkeys")
    d.n32("memcache_op_value_bytes")
    d.n32("memcache_op_duration_uS")
    d.n32("memcache_op_status")


def url_encode(key: str) -> str:
    """sflowtool's URLEncode(), whose hex lookup swaps the two digits on a little-endian host."""
    out = []
    for ch in key:
        c = ord(ch)
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif ch in " \t\n\v\f\r":
            out.append("+")
        elif c < 0x80:
            hexd = "%02X" % c
            out.append("%" + hexd[1] + hexd[0])
        else:
            # a negative index in C (signed char): sflowtool prints whatever precedes its table
            out.append("%" + "%02X" % c)
    return "".join(out)


def read_http(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("flowSampleType", "http")
    method = d.n32("http_method")
    protocol = d.n32("http_protocol")
    uri = _opt_string(d, 255, "http_uri")
    _opt_string(d, 64, "http_host")
    referrer = _opt_string(d, 255, "http_referrer")
    useragent = _opt_string(d, 128, "http_useragent")
    if tag == 2206:
        _opt_string(d, 64, "http_xff")
    authuser = _opt_string(d, 32, "http_authuser")
    _opt_string(d, 64, "http_mimetype")
    if tag == 2206:
        d.n64("http_request_bytes")
    resp_bytes = d.n64("http_bytes")
    d.n32("http_duration_uS")
    status = d.n32("http_status")
    d.s.http = (authuser, method, uri, protocol, status, resp_bytes, referrer, useragent)


def _opt_string(d: Decoder, buflen: int, name: str) -> str:
    n, text = d.string(buflen)
    if n > 0:
        d.f(name, text)
    return text


def read_app(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("flowSampleType", "applicationOperation")
    _opt_string(d, 32, "application")
    _opt_string(d, 32, "operation")
    _opt_string(d, 255, "attributes")
    _opt_string(d, 32, "status_descr")
    d.n64("request_bytes")
    d.n64("response_bytes")
    d.n32("duration_uS")
    status = d.u32()
    d.f("status", APP_STATUS[status] if status < len(APP_STATUS) else f"<out-of-range={status}>")


def read_app_ctxt(d: Decoder, tag: int = 0, length: int = 0) -> None:
    _opt_string(d, 32, "server_context_application")
    _opt_string(d, 32, "server_context_operation")
    _opt_string(d, 255, "server_context_attributes")


def read_app_actor_init(d: Decoder, tag: int = 0, length: int = 0) -> None:
    _opt_string(d, 64, "actor_initiator")


def read_app_actor_tgt(d: Decoder, tag: int = 0, length: int = 0) -> None:
    _opt_string(d, 64, "actor_target")


def _socket4(d: Decoder, name: str) -> tuple[str, str]:
    d.n32(name + "_ip_protocol")
    local = fmt_ip4(d.raw4())
    remote = fmt_ip4(d.raw4())
    d.f(name + "_local_ip", local)
    d.f(name + "_remote_ip", remote)
    d.n32(name + "_local_port")
    d.n32(name + "_remote_port")
    return local, remote


def _socket6(d: Decoder, name: str) -> tuple[str, str]:
    d.n32(name + "_ip_protocol")
    p = d.skip(16)
    local = fmt_ip6(d.buf[p : p + 16])
    p = d.skip(16)
    remote = fmt_ip6(d.buf[p : p + 16])
    d.f(name + "_local_ip", local)
    d.f(name + "_remote_ip", remote)
    d.n32(name + "_local_port")
    d.n32(name + "_remote_port")
    return local, remote


def read_extended_socket4(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "socket4")
    s = d.s
    s.ipsrc, s.ipdst = _socket4(d, "socket4")
    s.clf_client = s.ipdst


def read_extended_proxy_socket4(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "proxy_socket4")
    _socket4(d, "proxy_socket4")


def read_extended_socket6(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "socket6")
    s = d.s
    s.ipsrc, s.ipdst = _socket6(d, "socket6")
    s.clf_client = s.ipdst


def read_extended_proxy_socket6(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "proxy_socket6")
    _socket6(d, "proxy_socket6")


def _decap(prefix: str) -> Reader:
    def read_extended_decap(d: Decoder, tag: int = 0, length: int = 0) -> None:
        d.f("extendedType", prefix + "decap")
        d.f(prefix + "decap_inner_header_offset", str(d.u32()))

    return read_extended_decap


def _vni(prefix: str) -> Reader:
    def read_extended_vni(d: Decoder, tag: int = 0, length: int = 0) -> None:
        d.f("extendedType", prefix + "VNI")
        d.f(prefix + "VNI", str(d.u32()))

    return read_extended_vni


def _tunnel(reader: Callable[[Decoder, str], None], prefix: str) -> Reader:
    def read_tunnel(d: Decoder, tag: int = 0, length: int = 0) -> None:
        reader(d, prefix)

    return read_tunnel


_TCPINFO_FIELDS: Final = (
    "tcpinfo_send_mss", "tcpinfo_receive_mss", "tcpinfo_unacked_pkts", "tcpinfo_lost_pkts",
    "tcpinfo_retrans_pkts", "tcpinfo_path_mtu", "tcpinfo_rtt_uS", "tcpinfo_rtt_uS_var",
    "tcpinfo_send_congestion_win", "tcpinfo_reordering", "tcpinfo_rtt_uS_min",
)  # fmt: skip


def read_extended_tcp_info(d: Decoder, tag: int = 0, length: int = 0) -> None:
    dirn = d.u32()
    d.f("tcpinfo_direction", ("unknown", "received", "sent")[dirn] if dirn < 3 else "<bad value>")
    for name in _TCPINFO_FIELDS:
        d.n32(name)


def read_extended_entities(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "entities")
    d.n32("entities_src_class")
    d.n32("entities_src_index")
    d.n32("entities_dst_class")
    d.n32("entities_dst_index")


def _one_counter(label: str, name: str) -> Reader:
    def read_extended(d: Decoder, tag: int = 0, length: int = 0) -> None:
        d.f("extendedType", label)
        d.n32(name)

    return read_extended


def read_extended_function(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "function")
    _opt_string(d, 64, "symbol")


def read_extended_hw_trap(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "hw_trap")
    _opt_string(d, 64, "hw_trap_group")
    _opt_string(d, 64, "hw_trap_name")


def read_extended_linux_reason(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "linux_reason")
    _opt_string(d, 64, "linux_drop_reason")


def read_extended_timestamp(d: Decoder, tag: int = 0, length: int = 0) -> None:
    d.f("extendedType", "timestamp")
    d.s.timestamp_ns = d.n64("timestamp_nS")


FLOW_RECORDS: dict[int, Reader] = {
    1: read_sampled_header,
    2: _tunnel(read_sampled_ethernet, ""),
    3: _tunnel(read_sampled_ipv4, ""),
    4: _tunnel(read_sampled_ipv6, ""),
    2200: read_memcache,
    2201: read_http,
    2206: read_http,
    2202: read_app,
    2203: read_app_ctxt,
    2204: read_app_actor_init,
    2205: read_app_actor_tgt,
    1001: read_extended_switch,
    1002: read_extended_router,
    1003: read_extended_gateway,
    1004: read_extended_user,
    1005: read_extended_url,
    1006: read_extended_mpls,
    1007: read_extended_nat,
    1020: read_extended_nat_port,
    1008: read_extended_mpls_tunnel,
    1009: read_extended_mpls_vc,
    1010: read_extended_mpls_ftn,
    1011: read_extended_mpls_ldp_fec,
    1012: read_extended_vlan_tunnel,
    1013: read_extended_80211_payload,
    1014: read_extended_80211_rx,
    1015: read_extended_80211_tx,
    # 1016 extended_80211_aggregation: sflowtool skips it as unknown
    2100: read_extended_socket4,
    2101: read_extended_socket6,
    2102: read_extended_proxy_socket4,
    2103: read_extended_proxy_socket6,
    1021: _tunnel(read_sampled_ethernet, "tunnel_l2_out_"),
    1022: _tunnel(read_sampled_ethernet, "tunnel_l2_in_"),
    1023: _tunnel(read_sampled_ipv4, "tunnel_ipv4_out_"),
    1024: _tunnel(read_sampled_ipv4, "tunnel_ipv4_in_"),
    1025: _tunnel(read_sampled_ipv6, "tunnel_ipv6_out_"),
    1026: _tunnel(read_sampled_ipv6, "tunnel_ipv6_in_"),
    1027: _decap("out_"),
    1028: _decap("in_"),
    1029: _vni("out_"),
    1030: _vni("in_"),
    2209: read_extended_tcp_info,
    2210: read_extended_entities,
    1036: _one_counter("egress_queue", "egress_queue_id"),
    1039: _one_counter("transit_delay", "transit_delay_nS"),
    1040: _one_counter("queue_depth", "queue_depth_bytes"),
    1043: read_extended_timestamp,
    1038: read_extended_function,
    1041: read_extended_hw_trap,
    1042: read_extended_linux_reason,
}


def read_flow_elements(d: Decoder) -> None:
    """readFlowSampleElements(): the record list of a flow or discard sample."""
    d.records(d.u32(), FLOW_RECORDS, "flowBlock_tag", "flow_sample_element")
