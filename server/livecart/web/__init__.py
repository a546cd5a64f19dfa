"""HTTP and websocket handlers: the I/O shell around the pure core."""
