#!/usr/bin/env python3
"""The sFlow blog's tshark.py, reading a local block list: docker run ... sflow/tshark -T ek | ./tshark.py LIST"""

import sys

from blocklist import main

if __name__ == "__main__":
    sys.exit(main(["ek", *sys.argv[1:]]))
