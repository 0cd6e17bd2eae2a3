"""Output sinks: each turns decoded datagrams into one of sflowtool's formats."""
