"""ChatPresets' added latency against LiteLLM's, side by side (bench/gateway_side_by_side.py)."""
