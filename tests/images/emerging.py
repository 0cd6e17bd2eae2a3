#!/usr/bin/env python3
"""The sFlow blog's emerging.py, reading a local block list: docker run ... sflow/sflowtool -j | ./emerging.py LIST"""

import sys

from blocklist import main

if __name__ == "__main__":
    sys.exit(main(["sflowtool", *sys.argv[1:]]))
