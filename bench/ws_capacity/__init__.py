"""Parts of bench/websocket_capacity.py: the client sockets, the servers and /proc sampling, the report."""
