"""livecart's load tools. They speak the public protocol only: tokens, HTTP and websocket frames."""
