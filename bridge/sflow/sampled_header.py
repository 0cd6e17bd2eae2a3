"""The rudimentary decode of sampled packet headers that sflowtool prints.

Ethernet with any depth of 802.1Q/802.1ad tags, 802.3 length + LLC/SNAP, 802.11
MAC headers, IPv4 (options skipped, fragments stop), IPv6 (hop-by-hop, routing,
fragment, AH and destination-options headers skipped as sflowtool does), then the
TCP/UDP ports and ICMP type/code. Field names and every quirk follow sflowtool
6.11; the header is read in place inside the datagram buffer, so peeking past the
end of a short header sees the datagram's next bytes just as sflowtool does.
"""

from __future__ import annotations

import struct
from typing import Final

from bridge.sflow.events import block, block_under
from bridge.sflow.reader import Decoder, Sample, fmt_ip4, fmt_ip6

_VLAN_TPIDS: Final = frozenset((0x8100, 0x88A8, 0x9100, 0x9200, 0x9300))
_IP6_EXT: Final = frozenset((0, 43, 44, 51, 60))
_IPV4: Final = struct.Struct(">BBHHHBBH4s4s")
_IPV4_BLOCK: Final = block(("ip.tot_len", "srcIP", "dstIP", "IPProtocol", "IPTOS", "IPTTL", "IPID"))
_IPV6_BLOCK: Final = block(("IPTOS", "IP6_label", "IPV6_payloadLen", "IPTTL", "srcIP6", "dstIP6"))
_TCP_BLOCK: Final = block(("TCPSrcPort", "TCPDstPort", "TCPFlags"))
_UDP_BLOCK: Final = block(("UDPSrcPort", "UDPDstPort", "UDPBytes"))
_ICMP_BLOCK: Final = block(("ICMPType", "ICMPCode"))


def decode_link_layer(d: Decoder, s: Sample) -> None:
    buf = d.buf
    start = s.header_off
    end = start + s.header_len
    ptr = start
    s.got_ipv4 = False
    s.got_ipv6 = False
    if end - ptr < 14:
        return
    d.f("dstMAC", buf[ptr : ptr + 6].hex())
    s.eth_dst = buf[ptr : ptr + 6]
    d.f("srcMAC", buf[ptr + 6 : ptr + 12].hex())
    s.eth_src = buf[ptr + 6 : ptr + 12]
    ptr += 12
    type_len = (buf[ptr] << 8) | buf[ptr + 1]
    ptr += 2
    depth = 0
    while type_len in _VLAN_TPIDS:
        if end - ptr < 4:
            return
        tci = (buf[ptr] << 8) | buf[ptr + 1]
        vlan = tci & 0x0FFF
        ptr += 2
        if depth == 0:
            d.f("decodedVLAN", str(vlan))
            d.f("decodedPriority", str(tci >> 13))
        else:
            d.f(f"decodedVLAN.{depth}", str(vlan))
            d.f(f"decodedPriority.{depth}", str(tci >> 13))
        s.in_vlan = vlan
        type_len = (buf[ptr] << 8) | buf[ptr + 1]
        ptr += 2
        depth += 1

    if end - start < 20:
        return
    if type_len in (0x0200, 0x0201, 0x0600):
        # IPX: nothing decoded
        ipx_len = (buf[ptr + 2] << 8) | buf[ptr + 3]
        if buf[ptr] == 0xFF and buf[ptr + 1] == 0xFF and 30 <= ipx_len <= 30 + 546:
            return
    if type_len <= 1500:
        # 802.3 length field, then 802.2 LLC
        if buf[ptr] == 0xAA and buf[ptr + 1] == 0xAA and buf[ptr + 2] == 0x03:
            ptr += 3
            if buf[ptr] or buf[ptr + 1] or buf[ptr + 2]:
                d.f("VSNAP_OUI", buf[ptr : ptr + 3].hex("-").upper())
                return
            ptr += 3
            type_len = (buf[ptr] << 8) | buf[ptr + 1]
            ptr += 2
        elif buf[ptr] == 0x06 and buf[ptr + 1] == 0x06 and (buf[ptr + 2] & 0x01):
            ptr += 3
            type_len = 0x0800
        else:
            return

    s.eth_type = type_len
    d.f("ethernet_type", str(type_len))
    if type_len == 0x0800:
        if end - ptr < 20:
            return
        b0 = buf[ptr]
        if (b0 >> 4) != 4 or (b0 & 15) < 5:
            return
        s.got_ipv4 = True
        s.offset_to_ipv4 = ptr - start
    if type_len == 0x86DD:
        if (buf[ptr] >> 4) != 6:
            return
        s.got_ipv6 = True
        s.offset_to_ipv6 = ptr - start


def decode_80211_mac(d: Decoder, s: Sample) -> None:
    buf = d.buf
    ptr = s.header_off
    s.got_ipv4 = False
    s.got_ipv6 = False
    if s.header_len < 24:
        return
    fc = (buf[ptr + 1] << 8) | buf[ptr]
    control = (fc >> 2) & 3
    to_ds = (fc >> 8) & 1
    from_ds = (fc >> 9) & 1
    ptr += 4
    if control != 2:  # only data frames carry addresses sflowtool reports
        return
    addr1, addr2, addr3 = ptr, ptr + 6, ptr + 12
    ptr += 20  # three addresses and the sequence control
    if to_ds:
        dst = addr3
        src = ptr if from_ds else addr2  # with FromDS too, the fourth address (wireless bridge)
    else:
        dst = addr1
        src = addr3 if from_ds else addr2
    d.f("srcMAC", buf[src : src + 6].hex())
    s.eth_src = buf[src : src + 6]
    d.f("dstMAC", buf[dst : dst + 6].hex())
    s.eth_dst = buf[src : src + 6]  # sflowtool copies the source MAC here; -l shows it
    d.f("txMAC", buf[addr2 : addr2 + 6].hex())
    d.f("rxMAC", buf[addr1 : addr1 + 6].hex())


def decode_ip_layer4(d: Decoder, s: Sample, ptr: int) -> None:
    buf = d.buf
    hdr = s.header_off
    end = hdr + s.header_len
    if ptr > end - 8:
        return
    proto = s.ip_protocol
    if proto == 1:
        s.sport = buf[ptr]
        s.dport = buf[ptr + 1]
        d.ev.append((block_under(_ICMP_BLOCK, d.prefix), (s.sport, s.dport)))
        s.offset_to_payload = ptr + 2 - hdr
    elif proto == 6:
        s.sport = (buf[ptr] << 8) | buf[ptr + 1]
        s.dport = (buf[ptr + 2] << 8) | buf[ptr + 3]
        s.tcp_flags = buf[ptr + 13]
        d.ev.append((block_under(_TCP_BLOCK, d.prefix), (s.sport, s.dport, s.tcp_flags)))
        s.offset_to_payload = ptr + (buf[ptr + 12] >> 4) * 4 - hdr
    elif proto == 17:
        s.sport = (buf[ptr] << 8) | buf[ptr + 1]
        s.dport = (buf[ptr + 2] << 8) | buf[ptr + 3]
        s.udp_pdu_len = (buf[ptr + 4] << 8) | buf[ptr + 5]
        d.ev.append((block_under(_UDP_BLOCK, d.prefix), (s.sport, s.dport, s.udp_pdu_len)))
        s.offset_to_payload = ptr + 8 - hdr
    else:
        s.offset_to_payload = ptr - hdr


def decode_ipv4(d: Decoder, s: Sample) -> None:
    if not s.got_ipv4:
        return
    buf = d.buf
    end = s.header_off + s.header_len
    ptr = s.header_off + s.offset_to_ipv4
    # sflowtool compares (end - ptr) with sizeof(struct myiphdr), unsigned: an IPv4 offset past the end of
    # this header (kept from an earlier header of the same sample) is read anyway, from what follows it
    if 0 <= end - ptr < 20:
        return
    raw, at = buf, ptr
    if ptr + 20 > len(buf):  # past the datagram and its padding: sflowtool's stale buffer, zeros here
        raw, at = bytes(buf[ptr : ptr + 20]).ljust(20, b"\0"), 0
    vhl, tos, tot_len, _, frag, ttl, proto, _, src, dst = _IPV4.unpack_from(raw, at)
    s.ipsrc = fmt_ip4(src)
    s.ipdst = fmt_ip4(dst)
    s.ip_protocol = proto
    s.ip_tos = tos
    s.ip_ttl = ttl
    # sflowtool prints the identification without ntohs(): these are the bytes read little-endian
    ipid = raw[at + 4] | (raw[at + 5] << 8)
    d.ev.append((block_under(_IPV4_BLOCK, d.prefix), (tot_len, s.ipsrc, s.ipdst, proto, tos, ttl, ipid)))
    s.ip_fragment_offset = frag & 0x1FFF
    if s.ip_fragment_offset:
        d.f("IPFragmentOffset", str(s.ip_fragment_offset))
        return
    header_bytes = (vhl & 0x0F) * 4
    if end - ptr < header_bytes:
        return
    decode_ip_layer4(d, s, ptr + header_bytes)


def decode_ipv6(d: Decoder, s: Sample) -> None:
    buf = d.buf
    end = s.header_off + s.header_len
    ptr = s.header_off + s.offset_to_ipv6
    # unsigned, as for IPv4: an offset past the end of this header is read anyway (see decode_ipv4)
    if not s.got_ipv6 or 0 <= end - ptr < 40:
        return
    raw, at = buf, ptr
    if ptr + 40 > len(buf):  # past the datagram and its padding: sflowtool's stale buffer, zeros here
        raw, at = bytes(buf[ptr : ptr + 40]).ljust(40, b"\0"), 0
    version = raw[at] >> 4
    if version != 6:
        d.log(f"header decode error: unexpected IP version: {version}\n")
        return
    s.ip_tos = ((raw[at] & 15) << 4) | (raw[at + 1] >> 4)
    s.flow_label = ((raw[at + 1] & 15) << 16) | (raw[at + 2] << 8) | raw[at + 3]
    payload_len = (raw[at + 4] << 8) | raw[at + 5]
    next_header = raw[at + 6]
    s.ip_ttl = raw[at + 7]
    s.ipsrc = fmt_ip6(raw[at + 8 : at + 24])
    s.ipdst = fmt_ip6(raw[at + 24 : at + 40])
    values = (s.ip_tos, "0x%x" % s.flow_label, payload_len or "<jumbo>", s.ip_ttl, s.ipsrc, s.ipdst)
    d.ev.append((block_under(_IPV6_BLOCK, d.prefix), values))
    ptr += 40
    while next_header in _IP6_EXT:
        d.f("IP6HeaderExtension", str(next_header))
        if ptr > end:  # only where the header was read from past its end: sflowtool stops at its next check
            return
        next_header = buf[ptr]
        ptr += 8 * (buf[ptr + 1] + 1)  # AH counts 4-byte units: sflowtool gets it wrong, as here
        if ptr > end:
            return
    s.ip_protocol = next_header
    d.f("IPProtocol", str(next_header))
    decode_ip_layer4(d, s, ptr)
