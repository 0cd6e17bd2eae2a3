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
