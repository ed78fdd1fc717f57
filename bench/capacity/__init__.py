"""The capacity-planning inputs bench (bench/capacity_inputs.py): counters, probes and the chat driver."""
